/* virtio-gpu requests: copied out of the chain, decoded, checked against limits and resources. */
#include "devices/virtio/gpu_cmd.h"

#include <endian.h>
#include <string.h>

#include "vmm/iov.h"
#include "vmm/le.h"

/* Entries copied out of guest memory at a time. */
#define GPU_ENTRY_BATCH 256

int gpu_resource_index(const struct gpu_resources *resources, uint32_t id)
{
	if (!id)
		return -1;
	for (int i = 0; i < GPU_MAX_RESOURCES; i++)
		if (resources->slots[i].id == id)
			return i;
	return -1;
}

bool gpu_format_to_display(uint32_t format, enum display_format *out)
{
	switch (format) {
	case VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM: *out = DISPLAY_BGRA; return true;
	case VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM: *out = DISPLAY_BGRX; return true;
	case VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM: *out = DISPLAY_ARGB; return true;
	case VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM: *out = DISPLAY_XRGB; return true;
	case VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM: *out = DISPLAY_RGBA; return true;
	case VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM: *out = DISPLAY_XBGR; return true;
	case VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM: *out = DISPLAY_ABGR; return true;
	case VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM: *out = DISPLAY_RGBX; return true;
	}
	return false;
}

/* The wire size of each command this device does; 0 for the rest. */
static size_t gpu_cmd_size(uint32_t type, bool cursorq)
{
	if (cursorq) {
		switch (type) {
		case VIRTIO_GPU_CMD_UPDATE_CURSOR:
		case VIRTIO_GPU_CMD_MOVE_CURSOR: return 56;
		}
		return 0;
	}
	switch (type) {
	case VIRTIO_GPU_CMD_GET_DISPLAY_INFO: return GPU_HDR_SIZE;
	case VIRTIO_GPU_CMD_GET_EDID: return 32;
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D: return 40;
	case VIRTIO_GPU_CMD_RESOURCE_UNREF: return 32;
	case VIRTIO_GPU_CMD_SET_SCANOUT: return 48;
	case VIRTIO_GPU_CMD_RESOURCE_FLUSH: return 48;
	case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D: return 56;
	case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING: return GPU_ATTACH_SIZE;
	case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING: return 32;
	}
	return 0;
}

static struct display_rect get_rect(const uint8_t *p)
{
	return (struct display_rect){ get_le32(p), get_le32(p + 4), get_le32(p + 8),
				      get_le32(p + 12) };
}

/* r inside a width x height resource; in 64 bits, so x + w cannot wrap. */
static bool rect_inside(const struct display_rect *r, uint32_t width, uint32_t height)
{
	return (uint64_t)r->x + r->w <= width && (uint64_t)r->y + r->h <= height;
}

static const struct gpu_resource *find(const struct gpu_cmd_ctx *ctx, uint32_t id)
{
	int i = gpu_resource_index(ctx->resources, id);

	return i < 0 ? NULL : &ctx->resources->slots[i];
}

static enum gpu_cmd_error parse_create(const struct gpu_cmd_ctx *ctx, struct gpu_cmd *cmd)
{
	const struct gpu_resources *t = ctx->resources;
	uint64_t bytes;

	if (!cmd->resource_id)
		return GPU_E_RESOURCE_ID;
	if (find(ctx, cmd->resource_id))
		return GPU_E_RESOURCE_EXISTS;
	if (!gpu_format_to_display(cmd->format, &cmd->display_format))
		return GPU_E_FORMAT;
	if (!cmd->width || !cmd->height || cmd->width > DISPLAY_MAX_WIDTH ||
	    cmd->height > DISPLAY_MAX_HEIGHT)
		return GPU_E_SIZE;
	if (t->count >= GPU_MAX_RESOURCES)
		return GPU_E_TOO_MANY;
	bytes = (uint64_t)cmd->width * cmd->height * GPU_BYTES_PER_PIXEL;
	if (t->host_bytes > GPU_MAX_HOST_BYTES || bytes > GPU_MAX_HOST_BYTES - t->host_bytes)
		return GPU_E_NO_MEMORY;
	return GPU_E_OK;
}

/* TRANSFER_TO_HOST_2D: row i of rect is read from offset + i * stride of the backing. */
static enum gpu_cmd_error parse_transfer(const struct gpu_resource *res, struct gpu_cmd *cmd)
{
	const struct display_rect *r = &cmd->rect;
	uint64_t stride = (uint64_t)res->width * GPU_BYTES_PER_PIXEL, need;

	if (!res->has_backing)
		return GPU_E_NO_BACKING;
	if (!rect_inside(r, res->width, res->height))
		return GPU_E_RECT;
	if (!r->w || !r->h)
		return GPU_E_OK; /* nothing to copy */
	/* r->h <= 4096 and stride <= 16384 here: no overflow */
	need = (uint64_t)(r->h - 1) * stride + (uint64_t)r->w * GPU_BYTES_PER_PIXEL;
	if (cmd->offset > res->backing_len || need > res->backing_len - cmd->offset)
		return GPU_E_BACKING_RANGE;
	return GPU_E_OK;
}

/* Adds one entry to the list, merging it with the previous one where the host bytes meet. */
static void backing_add(struct iovec *list, unsigned *n, uint8_t *p, uint32_t len)
{
	struct iovec *last = *n ? &list[*n - 1] : NULL;

	if (!len)
		return;
	if (last && (uint8_t *)last->iov_base + last->iov_len == p) {
		last->iov_len += len;
		return;
	}
	list[(*n)++] = (struct iovec){ p, len };
}

/* ATTACH_BACKING: the entries after the command, copied out a batch at a time. */
static enum gpu_cmd_error parse_attach(const struct iovec *iov, unsigned n,
				       const struct gpu_cmd_ctx *ctx, struct gpu_cmd *cmd,
				       uint32_t nr_entries)
{
	const struct gpu_resource *res = find(ctx, cmd->resource_id);
	const struct gpu_resources *t = ctx->resources;
	uint8_t batch[GPU_ENTRY_BATCH * GPU_MEM_ENTRY_SIZE];
	uint64_t list_bytes;

	if (!res)
		return GPU_E_RESOURCE_ID;
	if (res->has_backing)
		return GPU_E_BACKING_ATTACHED;
	if (!nr_entries || nr_entries > GPU_MAX_BACKING_ENTRIES)
		return GPU_E_ENTRIES;
	list_bytes = (uint64_t)nr_entries * sizeof(struct iovec);
	if (t->host_bytes > GPU_MAX_HOST_BYTES || list_bytes > GPU_MAX_HOST_BYTES - t->host_bytes)
		return GPU_E_NO_MEMORY;
	for (uint32_t done = 0; done < nr_entries;) {
		uint32_t k =
			nr_entries - done < GPU_ENTRY_BATCH ? nr_entries - done : GPU_ENTRY_BATCH;
		size_t bytes = (size_t)k * GPU_MEM_ENTRY_SIZE;
		size_t off = GPU_ATTACH_SIZE + (size_t)done * GPU_MEM_ENTRY_SIZE;

		if (iov_to_buf(iov, n, off, batch, bytes) != bytes)
			return GPU_E_SHORT;
		for (uint32_t i = 0; i < k; i++) {
			uint64_t addr = get_le64(batch + i * GPU_MEM_ENTRY_SIZE);
			uint32_t len = get_le32(batch + i * GPU_MEM_ENTRY_SIZE + 8);
			uint8_t *p = len ? gmem_ptr(ctx->mem, addr, len) : NULL;

			if (len && !p)
				return GPU_E_BACKING_RAM;
			backing_add(ctx->backing, &cmd->nr_backing, p, len);
			cmd->backing_len += len; /* 16384 x 32 bits: cannot overflow 64 */
		}
		done += k;
	}
	return GPU_E_OK;
}

static enum gpu_cmd_error parse_body(const uint8_t *b, const struct iovec *iov, unsigned n,
				     const struct gpu_cmd_ctx *ctx, struct gpu_cmd *cmd)
{
	const struct gpu_resource *res;

	switch (cmd->type) {
	case VIRTIO_GPU_CMD_GET_DISPLAY_INFO: return GPU_E_OK;
	case VIRTIO_GPU_CMD_GET_EDID:
		cmd->scanout_id = get_le32(b + 24);
		return cmd->scanout_id ? GPU_E_SCANOUT : GPU_E_OK;
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D:
		cmd->resource_id = get_le32(b + 24);
		cmd->format = get_le32(b + 28);
		cmd->width = get_le32(b + 32);
		cmd->height = get_le32(b + 36);
		return parse_create(ctx, cmd);
	case VIRTIO_GPU_CMD_RESOURCE_UNREF:
		cmd->resource_id = get_le32(b + 24);
		return find(ctx, cmd->resource_id) ? GPU_E_OK : GPU_E_RESOURCE_ID;
	case VIRTIO_GPU_CMD_SET_SCANOUT:
		cmd->rect = get_rect(b + 24);
		cmd->scanout_id = get_le32(b + 40);
		cmd->resource_id = get_le32(b + 44);
		if (cmd->scanout_id)
			return GPU_E_SCANOUT;
		if (!cmd->resource_id)
			return GPU_E_OK;
		res = find(ctx, cmd->resource_id);
		if (!res)
			return GPU_E_RESOURCE_ID;
		if (!cmd->rect.w || !cmd->rect.h ||
		    !rect_inside(&cmd->rect, res->width, res->height))
			return GPU_E_RECT;
		return GPU_E_OK;
	case VIRTIO_GPU_CMD_RESOURCE_FLUSH:
		cmd->rect = get_rect(b + 24);
		cmd->resource_id = get_le32(b + 40);
		res = find(ctx, cmd->resource_id);
		if (!res)
			return GPU_E_RESOURCE_ID;
		return rect_inside(&cmd->rect, res->width, res->height) ? GPU_E_OK : GPU_E_RECT;
	case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D:
		cmd->rect = get_rect(b + 24);
		cmd->offset = get_le64(b + 40);
		cmd->resource_id = get_le32(b + 48);
		res = find(ctx, cmd->resource_id);
		return res ? parse_transfer(res, cmd) : GPU_E_RESOURCE_ID;
	case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING:
		cmd->resource_id = get_le32(b + 24);
		return parse_attach(iov, n, ctx, cmd, get_le32(b + 28));
	case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING:
		cmd->resource_id = get_le32(b + 24);
		res = find(ctx, cmd->resource_id);
		if (!res)
			return GPU_E_RESOURCE_ID;
		return res->has_backing ? GPU_E_OK : GPU_E_NO_BACKING;
	case VIRTIO_GPU_CMD_UPDATE_CURSOR:
	case VIRTIO_GPU_CMD_MOVE_CURSOR:
		/* struct virtio_gpu_cursor_pos, then resource_id, hot_x, hot_y */
		cmd->scanout_id = get_le32(b + 24);
		cmd->x = get_le32(b + 28);
		cmd->y = get_le32(b + 32);
		cmd->resource_id = get_le32(b + 40);
		cmd->hot_x = get_le32(b + 44);
		cmd->hot_y = get_le32(b + 48);
		if (cmd->scanout_id)
			return GPU_E_SCANOUT;
		if (cmd->type == VIRTIO_GPU_CMD_MOVE_CURSOR || !cmd->resource_id)
			return GPU_E_OK;
		return find(ctx, cmd->resource_id) ? GPU_E_OK : GPU_E_RESOURCE_ID;
	}
	return GPU_E_UNKNOWN;
}

enum gpu_cmd_error gpu_cmd_parse(const struct iovec *iov, unsigned n, bool cursorq,
				 const struct gpu_cmd_ctx *ctx, struct gpu_cmd *cmd)
{
	/* the host copy every decision is made on: the guest may change its own */
	uint8_t b[GPU_CMD_MAX_SIZE];
	size_t have = iov_to_buf(iov, n, 0, b, sizeof(b)), want;

	memset(cmd, 0, sizeof(*cmd));
	if (have < GPU_HDR_SIZE)
		return GPU_E_SHORT;
	/* virtio 1.2 §5.7.6.7: struct virtio_gpu_ctrl_hdr */
	cmd->type = get_le32(b);
	cmd->flags = get_le32(b + 4);
	cmd->fence_id = get_le64(b + 8);
	cmd->ctx_id = get_le32(b + 16);
	want = gpu_cmd_size(cmd->type, cursorq);
	if (!want)
		return GPU_E_UNKNOWN;
	if (have < want)
		return GPU_E_SHORT;
	return parse_body(b, iov, n, ctx, cmd);
}

uint32_t gpu_cmd_response(enum gpu_cmd_error err)
{
	switch (err) {
	case GPU_E_OK: return VIRTIO_GPU_RESP_OK_NODATA;
	case GPU_E_SCANOUT: return VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
	case GPU_E_RESOURCE_ID:
	case GPU_E_RESOURCE_EXISTS: return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	case GPU_E_TOO_MANY:
	case GPU_E_NO_MEMORY: return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	case GPU_E_FORMAT:
	case GPU_E_SIZE:
	case GPU_E_RECT:
	case GPU_E_ENTRIES:
	case GPU_E_BACKING_RAM:
	case GPU_E_BACKING_RANGE: return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	case GPU_E_SHORT:
	case GPU_E_UNKNOWN:
	case GPU_E_BACKING_ATTACHED:
	case GPU_E_NO_BACKING: break;
	}
	return VIRTIO_GPU_RESP_ERR_UNSPEC;
}

const char *gpu_cmd_strerror(enum gpu_cmd_error err)
{
	switch (err) {
	case GPU_E_OK: return "success";
	case GPU_E_SHORT: return "request shorter than its command";
	case GPU_E_UNKNOWN: return "unsupported command";
	case GPU_E_SCANOUT: return "scanout id other than 0";
	case GPU_E_RESOURCE_ID: return "resource id 0 or unknown";
	case GPU_E_RESOURCE_EXISTS: return "resource id already in use";
	case GPU_E_FORMAT: return "unknown pixel format";
	case GPU_E_SIZE: return "resource width or height 0 or too large";
	case GPU_E_RECT: return "rectangle outside the resource";
	case GPU_E_TOO_MANY: return "too many resources";
	case GPU_E_NO_MEMORY: return "resources would exceed the host memory limit";
	case GPU_E_ENTRIES: return "backing entry count 0 or too large";
	case GPU_E_BACKING_RAM: return "backing entry outside guest RAM";
	case GPU_E_BACKING_ATTACHED: return "resource already has backing";
	case GPU_E_NO_BACKING: return "resource has no backing";
	case GPU_E_BACKING_RANGE: return "transfer reads past the end of the backing";
	}
	return "unknown virtio-gpu request error";
}
