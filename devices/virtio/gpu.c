/* virtio-gpu: the device, its resources and their way to the display. */
#include "devices/virtio/gpu.h"

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "devices/display/edid.h"
#include "vmm/iov.h"
#include "vmm/log.h"
#include "vmm/le.h"

/* virtio 1.2 §5.7.3: feature bits. */
#define VIRTIO_GPU_F_EDID 1

/* virtio 1.2 §5.7.4: struct virtio_gpu_config offsets, and events. */
#define CFG_EVENTS_READ		 0
#define CFG_EVENTS_CLEAR	 4
#define CFG_NUM_SCANOUTS	 8
#define CFG_NUM_CAPSETS		 12
#define VIRTIO_GPU_EVENT_DISPLAY (1u << 0)

#define CURSORQ_SIZE 16 /* cursor updates are tiny and never pile up */

/*
 * Bytes written into the resource on screen per hold of the display's lock:
 * a front end waits at most this long (tens of microseconds), and a whole
 * frame takes the lock only a few dozen times.
 */
#define GPU_TRANSFER_BAND_BYTES (256u << 10)
_Static_assert(GPU_TRANSFER_BAND_BYTES >= DISPLAY_MAX_WIDTH * GPU_BYTES_PER_PIXEL,
	       "a band holds at least one row");

/* --- responses --- */

/* Starts a response of type in gpu->resp; its length (the header only). */
static size_t gpu_resp_header(struct virtio_gpu *gpu, uint32_t type)
{
	const struct gpu_cmd *cmd = &gpu->cmd;
	uint8_t *r = gpu->resp;

	memset(r, 0, GPU_HDR_SIZE);
	put_le32(r, type);
	/* virtio 1.2 §5.7.6.7: a fenced request's response carries its fence */
	if (cmd->flags & VIRTIO_GPU_FLAG_FENCE) {
		put_le32(r + 4, VIRTIO_GPU_FLAG_FENCE);
		put_le64(r + 8, cmd->fence_id);
		put_le32(r + 16, cmd->ctx_id);
	}
	return GPU_HDR_SIZE;
}

static size_t gpu_display_info(struct virtio_gpu *gpu)
{
	uint8_t *one = gpu->resp + GPU_HDR_SIZE; /* pmodes[0]: r, enabled, flags */

	memset(gpu->resp, 0, GPU_RESP_DISPLAY_INFO);
	gpu_resp_header(gpu, VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	pthread_mutex_lock(&gpu->vdev.lock);
	put_le32(one + 8, gpu->mode_width);
	put_le32(one + 12, gpu->mode_height);
	pthread_mutex_unlock(&gpu->vdev.lock);
	put_le32(one + 16, 1);
	return GPU_RESP_DISPLAY_INFO;
}

static size_t gpu_edid(struct virtio_gpu *gpu)
{
	uint32_t w, h;

	memset(gpu->resp, 0, GPU_RESP_EDID);
	gpu_resp_header(gpu, VIRTIO_GPU_RESP_OK_EDID);
	pthread_mutex_lock(&gpu->vdev.lock);
	w = gpu->mode_width;
	h = gpu->mode_height;
	pthread_mutex_unlock(&gpu->vdev.lock);
	put_le32(gpu->resp + GPU_HDR_SIZE, EDID_BLOCK_SIZE);
	edid_generate(gpu->resp + GPU_HDR_SIZE + 8, w, h);
	return GPU_RESP_EDID;
}

/* --- resources --- */

static size_t gpu_resource_create(struct virtio_gpu *gpu)
{
	const struct gpu_cmd *cmd = &gpu->cmd;
	struct gpu_resources *t = &gpu->resources;
	/* the parser checked width, height and the budget */
	size_t bytes = (size_t)cmd->width * cmd->height * GPU_BYTES_PER_PIXEL;
	struct gpu_resource *res;
	int slot;

	for (slot = 0; slot < GPU_MAX_RESOURCES && t->slots[slot].id; slot++)
		;
	if (slot == GPU_MAX_RESOURCES)
		return gpu_resp_header(gpu, VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	res = &t->slots[slot];
	memset(res, 0, sizeof(*res));
	res->pixels = calloc(1, bytes);
	if (!res->pixels)
		return gpu_resp_header(gpu, VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	res->id = cmd->resource_id;
	res->format = cmd->format;
	res->display_format = cmd->display_format;
	res->width = cmd->width;
	res->height = cmd->height;
	t->count++;
	t->host_bytes += bytes;
	return gpu_resp_header(gpu, VIRTIO_GPU_RESP_OK_NODATA);
}

static void gpu_backing_free(struct gpu_resources *t, struct gpu_resource *res)
{
	t->host_bytes -= res->nr_backing * sizeof(struct iovec);
	free(res->backing);
	res->backing = NULL;
	res->nr_backing = 0;
	res->backing_len = 0;
	res->has_backing = false;
}

/*
 * The display shows rectangle r of res from now on, straight from
 * res->pixels; res NULL: nothing. Either way the display lets go of what
 * it showed before, so that memory may be freed once this returns.
 */
static void gpu_scanout_set(struct virtio_gpu *gpu, const struct gpu_resource *res,
			    const struct display_rect *r)
{
	const struct virtio_gpu_display_ops *ops = gpu->display_ops;
	size_t stride;

	if (!res) {
		ops->set_surface(gpu->display, NULL, 0, 0, 0, DISPLAY_BGRX);
		gpu->scanout.resource_id = 0;
		gpu->scanout.rect = (struct display_rect){ 0, 0, 0, 0 };
		return;
	}
	/* r lies inside res (the parser checked), itself at most DISPLAY_MAX_* */
	stride = (size_t)res->width * GPU_BYTES_PER_PIXEL;
	ops->set_surface(gpu->display,
			 res->pixels + r->y * stride + (size_t)r->x * GPU_BYTES_PER_PIXEL, r->w,
			 r->h, stride, res->display_format);
	gpu->scanout.resource_id = res->id;
	gpu->scanout.rect = *r;
}

static void gpu_resource_free(struct virtio_gpu *gpu, struct gpu_resource *res)
{
	struct gpu_resources *t = &gpu->resources;

	/* the display points into res->pixels: it lets go first (the scanout goes
	 * off, as in QEMU), then they can be freed */
	if (gpu->scanout.resource_id == res->id)
		gpu_scanout_set(gpu, NULL, NULL);
	gpu_backing_free(t, res);
	t->host_bytes -= (uint64_t)res->width * res->height * GPU_BYTES_PER_PIXEL;
	t->count--;
	free(res->pixels);
	if (gpu->cursor.resource_id == res->id)
		gpu->cursor.resource_id = 0;
	memset(res, 0, sizeof(*res));
}

static void gpu_resources_free_all(struct virtio_gpu *gpu)
{
	for (unsigned i = 0; i < GPU_MAX_RESOURCES; i++)
		if (gpu->resources.slots[i].id)
			gpu_resource_free(gpu, &gpu->resources.slots[i]);
}

static struct gpu_resource *gpu_resource(struct virtio_gpu *gpu, uint32_t id)
{
	int i = gpu_resource_index(&gpu->resources, id);

	return i < 0 ? NULL : &gpu->resources.slots[i];
}

static size_t gpu_attach_backing(struct virtio_gpu *gpu, struct gpu_resource *res)
{
	const struct gpu_cmd *cmd = &gpu->cmd;
	size_t bytes = cmd->nr_backing * sizeof(struct iovec);

	/* nr_backing may be 0 when every entry was empty: backing of 0 bytes */
	if (bytes) {
		res->backing = malloc(bytes);
		if (!res->backing)
			return gpu_resp_header(gpu, VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
		memcpy(res->backing, gpu->backing_scratch, bytes);
	}
	res->nr_backing = cmd->nr_backing;
	res->backing_len = cmd->backing_len;
	res->has_backing = true;
	gpu->resources.host_bytes += bytes;
	return gpu_resp_header(gpu, VIRTIO_GPU_RESP_OK_NODATA);
}

/* Where a walk over a resource's backing is: backing[idx] starts at offset base. */
struct gpu_backing_cursor {
	unsigned idx;
	uint64_t base;
};

/* len bytes from backing offset off to dst; off never goes down between calls. */
static void gpu_backing_read(const struct gpu_resource *res, struct gpu_backing_cursor *c,
			     uint64_t off, uint8_t *dst, size_t len)
{
	/* offsets only grow: skip whole pieces once, not once per row */
	while (c->idx < res->nr_backing && c->base + res->backing[c->idx].iov_len <= off)
		c->base += res->backing[c->idx++].iov_len;
	iov_to_buf(res->backing + c->idx, res->nr_backing - c->idx, off - c->base, dst, len);
}

/*
 * TRANSFER_TO_HOST_2D (virtio 1.2 §5.7.6.8): row i of the rectangle comes
 * from backing offset + i * stride, stride being the resource's row. The
 * parser checked that every byte is there. Into the resource on screen it
 * writes under the display's lock, in bands of rows, since a front end may
 * be reading those pixels right now.
 */
static void gpu_transfer(struct virtio_gpu *gpu, const struct gpu_resource *res)
{
	const struct gpu_cmd *cmd = &gpu->cmd;
	const struct display_rect *r = &cmd->rect;
	const struct virtio_gpu_display_ops *ops = gpu->display_ops;
	bool on_screen = gpu->scanout.resource_id == res->id;
	size_t stride = (size_t)res->width * GPU_BYTES_PER_PIXEL;
	size_t row = (size_t)r->w * GPU_BYTES_PER_PIXEL;
	uint8_t *dst = res->pixels + r->y * stride + (size_t)r->x * GPU_BYTES_PER_PIXEL;
	/* rows per band; a stride is at most 16 KiB, so at least 16 rows */
	uint32_t band = on_screen ? GPU_TRANSFER_BAND_BYTES / (uint32_t)stride : r->h, n;
	struct gpu_backing_cursor c = { 0, 0 };

	if (!r->w || !r->h)
		return;
	for (uint32_t y = 0; y < r->h; y += n) {
		n = r->h - y < band ? r->h - y : band;
		if (on_screen)
			ops->lock(gpu->display);
		if (r->w == res->width) /* whole rows: one run on both sides */
			gpu_backing_read(res, &c, cmd->offset + y * stride, dst + y * stride,
					 (n - 1) * stride + row);
		else
			for (uint32_t i = y; i < y + n; i++)
				gpu_backing_read(res, &c, cmd->offset + i * stride,
						 dst + i * stride, row);
		if (on_screen)
			ops->unlock(gpu->display);
	}
}

/* --- scanout and cursor --- */

/* RESOURCE_FLUSH of the resource on screen: the part of r (resource coordinates) shown. */
static void gpu_flush(struct virtio_gpu *gpu, const struct display_rect *r)
{
	const struct display_rect *s = &gpu->scanout.rect;
	/* all inside a resource of at most DISPLAY_MAX_*: no overflow */
	uint32_t x0 = r->x > s->x ? r->x : s->x, y0 = r->y > s->y ? r->y : s->y;
	uint32_t x1 = r->x + r->w < s->x + s->w ? r->x + r->w : s->x + s->w;
	uint32_t y1 = r->y + r->h < s->y + s->h ? r->y + r->h : s->y + s->h;

	if (x0 >= x1 || y0 >= y1)
		return;
	gpu->display_ops->update(gpu->display,
				 &(struct display_rect){ x0 - s->x, y0 - s->y, x1 - x0, y1 - y0 });
}

static size_t gpu_set_scanout(struct virtio_gpu *gpu)
{
	const struct gpu_cmd *cmd = &gpu->cmd;

	/* resource 0 disables the scanout; any other exists (the parser checked) */
	if (!cmd->resource_id)
		gpu_scanout_set(gpu, NULL, NULL);
	else
		gpu_scanout_set(gpu, gpu_resource(gpu, cmd->resource_id), &cmd->rect);
	return gpu_resp_header(gpu, VIRTIO_GPU_RESP_OK_NODATA);
}

static size_t gpu_cursor(struct virtio_gpu *gpu)
{
	const struct gpu_cmd *cmd = &gpu->cmd;

	/* the cursor is not drawn: the guest's pointer is the host's */
	gpu->cursor.x = cmd->x;
	gpu->cursor.y = cmd->y;
	if (cmd->type == VIRTIO_GPU_CMD_UPDATE_CURSOR) {
		gpu->cursor.resource_id = cmd->resource_id;
		gpu->cursor.hot_x = cmd->hot_x;
		gpu->cursor.hot_y = cmd->hot_y;
	}
	return gpu_resp_header(gpu, VIRTIO_GPU_RESP_OK_NODATA);
}

/* Carries out a parsed command; the response's length in gpu->resp. */
static size_t gpu_execute(struct virtio_gpu *gpu)
{
	const struct gpu_cmd *cmd = &gpu->cmd;
	struct gpu_resource *res = gpu_resource(gpu, cmd->resource_id);

	switch (cmd->type) {
	case VIRTIO_GPU_CMD_GET_DISPLAY_INFO: return gpu_display_info(gpu);
	case VIRTIO_GPU_CMD_GET_EDID: return gpu_edid(gpu);
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D: return gpu_resource_create(gpu);
	case VIRTIO_GPU_CMD_RESOURCE_UNREF: gpu_resource_free(gpu, res); break;
	case VIRTIO_GPU_CMD_SET_SCANOUT: return gpu_set_scanout(gpu);
	case VIRTIO_GPU_CMD_RESOURCE_FLUSH:
		if (gpu->scanout.resource_id == res->id)
			gpu_flush(gpu, &cmd->rect);
		break;
	case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D: gpu_transfer(gpu, res); break;
	case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING: return gpu_attach_backing(gpu, res);
	case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING: gpu_backing_free(&gpu->resources, res); break;
	case VIRTIO_GPU_CMD_UPDATE_CURSOR:
	case VIRTIO_GPU_CMD_MOVE_CURSOR: return gpu_cursor(gpu);
	default: return gpu_resp_header(gpu, VIRTIO_GPU_RESP_ERR_UNSPEC); /* not reached */
	}
	return gpu_resp_header(gpu, VIRTIO_GPU_RESP_OK_NODATA);
}

uint32_t virtio_gpu_handle_chain(struct virtio_gpu *gpu, unsigned q,
				 const struct virtq_chain *chain)
{
	const struct gpu_cmd_ctx ctx = {
		.mem = gpu->vdev.mem,
		.resources = &gpu->resources,
		.backing = gpu->backing_scratch,
	};
	enum gpu_cmd_error err =
		gpu_cmd_parse(chain->iov, chain->out_num, q == VIRTIO_GPU_CURSORQ, &ctx, &gpu->cmd);
	const struct iovec *in = chain->iov + chain->out_num;
	size_t len;

	if (err) {
		LOG_RATELIMITED("virtio-gpu: command %#x refused: %s", gpu->cmd.type,
				gpu_cmd_strerror(err));
		len = gpu_resp_header(gpu, gpu_cmd_response(err));
	} else {
		len = gpu_execute(gpu);
	}
	if (len > chain->in_len && len > GPU_HDR_SIZE) {
		/* no room for the data: say so, in the header if that fits */
		LOG_RATELIMITED("virtio-gpu: command %#x: response buffer of %u bytes too small",
				gpu->cmd.type, chain->in_len);
		len = gpu_resp_header(gpu, VIRTIO_GPU_RESP_ERR_UNSPEC);
	}
	return (uint32_t)iov_from_buf(in, chain->in_num, 0, gpu->resp, len);
}

/* --- virtio device --- */

static void gpu_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_gpu *gpu = vdev->opaque;

	while (virtio_pop(vdev, q, &gpu->chain) == 1)
		virtio_push(vdev, q, gpu->chain.head, virtio_gpu_handle_chain(gpu, q, &gpu->chain));
	virtio_notify(vdev, q);
}

/* events_clear (virtio 1.2 §5.7.4): the bits written clear events_read; it reads as 0. */
static void gpu_config_write(struct virtio_dev *vdev, unsigned offset, const void *data,
			     unsigned len)
{
	struct virtio_gpu *gpu = vdev->opaque;
	uint32_t clear = 0, events;

	for (unsigned i = 0; i < len; i++) {
		unsigned at = offset + i;

		if (at >= CFG_EVENTS_CLEAR && at < CFG_EVENTS_CLEAR + 4)
			clear |= (uint32_t)((const uint8_t *)data)[i]
				 << 8 * (at - CFG_EVENTS_CLEAR);
	}
	pthread_mutex_lock(&vdev->lock);
	events = get_le32(gpu->config + CFG_EVENTS_READ);
	put_le32(gpu->config + CFG_EVENTS_READ, events & ~clear);
	pthread_mutex_unlock(&vdev->lock);
}

static int gpu_activate(struct virtio_dev *vdev)
{
	struct virtio_gpu *gpu = vdev->opaque;

	atomic_store(&gpu->active, true);
	return 0;
}

static void gpu_reset(struct virtio_dev *vdev)
{
	struct virtio_gpu *gpu = vdev->opaque;

	atomic_store(&gpu->active, false);
	/* the display shows nothing now, and lets go of the pixels freed next */
	gpu_scanout_set(gpu, NULL, NULL);
	gpu_resources_free_all(gpu);
	memset(&gpu->cursor, 0, sizeof(gpu->cursor));
}

static const struct virtio_dev_ops gpu_ops = {
	.name = "virtio-gpu",
	.device_id = VIRTIO_ID_GPU,
	.pci_class = 0x038000, /* display controller, other */
	.config_write = gpu_config_write,
	.activate = gpu_activate,
	.queue_notify = gpu_queue_notify,
	.reset = gpu_reset,
};

static void gpu_clamp_mode(uint32_t *width, uint32_t *height)
{
	if (*width < VIRTIO_GPU_MIN_WIDTH)
		*width = VIRTIO_GPU_MIN_WIDTH;
	if (*width > DISPLAY_MAX_WIDTH)
		*width = DISPLAY_MAX_WIDTH;
	if (*height < VIRTIO_GPU_MIN_HEIGHT)
		*height = VIRTIO_GPU_MIN_HEIGHT;
	if (*height > DISPLAY_MAX_HEIGHT)
		*height = DISPLAY_MAX_HEIGHT;
}

void virtio_gpu_set_mode(struct virtio_gpu *gpu, uint32_t width, uint32_t height)
{
	gpu_clamp_mode(&width, &height);
	pthread_mutex_lock(&gpu->vdev.lock);
	gpu->mode_width = width;
	gpu->mode_height = height;
	put_le32(gpu->config + CFG_EVENTS_READ,
		 get_le32(gpu->config + CFG_EVENTS_READ) | VIRTIO_GPU_EVENT_DISPLAY);
	pthread_mutex_unlock(&gpu->vdev.lock);
	/* before DRIVER_OK the driver reads the mode at probe anyway */
	if (atomic_load(&gpu->active))
		virtio_config_changed(&gpu->vdev);
}

static void gpu_request_mode(void *opaque, uint32_t width, uint32_t height)
{
	virtio_gpu_set_mode(opaque, width, height);
}

int virtio_gpu_init_ops(struct virtio_gpu *gpu, const struct virtio_gpu_display_ops *ops,
			struct display *display, uint32_t width, uint32_t height)
{
	struct virtio_dev *vdev = &gpu->vdev;

	memset(gpu, 0, offsetof(struct virtio_gpu, chain));
	gpu->backing_scratch = malloc(GPU_MAX_BACKING_ENTRIES * sizeof(struct iovec));
	if (!gpu->backing_scratch)
		return -ENOMEM; /* display_ops stays NULL: virtio_gpu_destroy() does nothing */
	gpu->display_ops = ops;
	gpu->display = display;
	gpu_clamp_mode(&width, &height);
	gpu->mode_width = width;
	gpu->mode_height = height;
	vdev->ops = &gpu_ops;
	vdev->opaque = gpu;
	vdev->features = 1ULL << VIRTIO_F_INDIRECT_DESC | 1ULL << VIRTIO_F_EVENT_IDX |
			 1ULL << VIRTIO_GPU_F_EDID;
	vdev->num_queues = 2;
	vdev->queues[VIRTIO_GPU_CTRLQ].size_max = VIRTIO_GPU_QUEUE_SIZE;
	vdev->queues[VIRTIO_GPU_CURSORQ].size_max = CURSORQ_SIZE;
	vdev->config = gpu->config;
	vdev->config_size = VIRTIO_GPU_CONFIG_SIZE;
	put_le32(gpu->config + CFG_NUM_SCANOUTS, 1);
	put_le32(gpu->config + CFG_NUM_CAPSETS, 0);
	ops->set_gpu(display, &(struct display_gpu_ops){
				      .request_mode = gpu_request_mode,
				      .opaque = gpu,
			      });
	return 0;
}

void virtio_gpu_destroy(struct virtio_gpu *gpu)
{
	if (!gpu->display_ops)
		return; /* virtio_gpu_init_ops() failed, or never ran on this zeroed gpu */
	gpu->display_ops->set_gpu(gpu->display, &(struct display_gpu_ops){ 0 });
	gpu_scanout_set(gpu, NULL, NULL); /* before the pixels it shows are freed */
	gpu_resources_free_all(gpu);
	free(gpu->backing_scratch);
	gpu->backing_scratch = NULL;
}
