/*
 * virtio-gpu 2D commands (virtio 1.2 §5.7.6): a control or cursor chain's
 * request bytes turned into a validated host copy, no I/O. Also the
 * resource table the checks run against, which the device owns.
 */
#ifndef HUTCH_DEVICES_VIRTIO_GPU_CMD_H
#define HUTCH_DEVICES_VIRTIO_GPU_CMD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/display/display.h"
#include "vmm/memory.h"

/* virtio 1.2 §5.7.6.7: command types. */
#define VIRTIO_GPU_CMD_GET_DISPLAY_INFO	       0x0100
#define VIRTIO_GPU_CMD_RESOURCE_CREATE_2D      0x0101
#define VIRTIO_GPU_CMD_RESOURCE_UNREF	       0x0102
#define VIRTIO_GPU_CMD_SET_SCANOUT	       0x0103
#define VIRTIO_GPU_CMD_RESOURCE_FLUSH	       0x0104
#define VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D     0x0105
#define VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING 0x0106
#define VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING 0x0107
#define VIRTIO_GPU_CMD_GET_EDID		       0x010a
#define VIRTIO_GPU_CMD_UPDATE_CURSOR	       0x0300
#define VIRTIO_GPU_CMD_MOVE_CURSOR	       0x0301

/* virtio 1.2 §5.7.6.7: response types. */
#define VIRTIO_GPU_RESP_OK_NODATA		0x1100
#define VIRTIO_GPU_RESP_OK_DISPLAY_INFO		0x1101
#define VIRTIO_GPU_RESP_OK_EDID			0x1104
#define VIRTIO_GPU_RESP_ERR_UNSPEC		0x1200
#define VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY	0x1201
#define VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID	0x1202
#define VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID 0x1203
#define VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER	0x1205

/* virtio 1.2 §5.7.6.7: struct virtio_gpu_ctrl_hdr flags. */
#define VIRTIO_GPU_FLAG_FENCE (1u << 0)

/* virtio 1.2 §5.7.6.8: enum virtio_gpu_formats. */
#define VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM 1
#define VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM 2
#define VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM 3
#define VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM 4
#define VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM 67
#define VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM 68
#define VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM 121
#define VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM 134

/* Wire sizes (virtio 1.2 §5.7.6.7-§5.7.6.10), all little-endian. */
#define GPU_HDR_SIZE	       24   /* struct virtio_gpu_ctrl_hdr */
#define GPU_MEM_ENTRY_SIZE     16   /* struct virtio_gpu_mem_entry */
#define GPU_ATTACH_SIZE	       32   /* struct virtio_gpu_resource_attach_backing */
#define GPU_CMD_MAX_SIZE       56   /* struct virtio_gpu_update_cursor, the largest */
#define GPU_MAX_SCANOUTS       16   /* VIRTIO_GPU_MAX_SCANOUTS */
#define GPU_RESP_DISPLAY_INFO  408  /* header + 16 x struct virtio_gpu_display_one */
#define GPU_RESP_EDID	       1056 /* header, size, padding, edid[1024] */
#define GPU_RESP_EDID_MAX_DATA 1024

/* What one VM may make the host hold: a hostile guest cannot ask for more. */
#define GPU_MAX_RESOURCES	1024
#define GPU_MAX_HOST_BYTES	(256ULL << 20) /* pixels and backing lists of all resources */
#define GPU_MAX_BACKING_ENTRIES 16384	       /* a 4096x4096 buffer in 4 KiB pages */
#define GPU_BYTES_PER_PIXEL	4

/*
 * A resource as the host holds it. pixels is a host copy (width * height *
 * 4 bytes, rows packed); backing are host pointers from gmem_ptr() into
 * guest RAM, adjacent pieces merged.
 */
struct gpu_resource {
	uint32_t id; /* 0: the slot is free */
	uint32_t format;
	enum display_format display_format;
	uint32_t width, height;
	uint8_t *pixels;
	bool has_backing;
	struct iovec *backing;
	unsigned nr_backing;
	uint64_t backing_len; /* bytes in backing[] */
};

/* All of a device's resources: owned and changed by the device, read by the parser. */
struct gpu_resources {
	struct gpu_resource slots[GPU_MAX_RESOURCES];
	unsigned count;
	uint64_t host_bytes; /* counted against GPU_MAX_HOST_BYTES */
};

/* Why a request is refused: see gpu_cmd_strerror(), gpu_cmd_response(). */
enum gpu_cmd_error {
	GPU_E_OK = 0,
	GPU_E_SHORT,	       /* fewer readable bytes than the command (and its entries) */
	GPU_E_UNKNOWN,	       /* a command this device does not do (3D, blob, capsets, ...) */
	GPU_E_SCANOUT,	       /* a scanout id other than 0 */
	GPU_E_RESOURCE_ID,     /* resource id 0 or unknown */
	GPU_E_RESOURCE_EXISTS, /* RESOURCE_CREATE_2D with an id already in use */
	GPU_E_FORMAT,	       /* not one of the 8 formats of §5.7.6.8 */
	GPU_E_SIZE,	       /* width or height 0 or larger than DISPLAY_MAX_* */
	GPU_E_RECT,	       /* a rectangle not inside the resource, or empty where not allowed */
	GPU_E_TOO_MANY,	       /* GPU_MAX_RESOURCES already exist */
	GPU_E_NO_MEMORY,       /* GPU_MAX_HOST_BYTES would be exceeded */
	GPU_E_ENTRIES,	       /* nr_entries 0 or past GPU_MAX_BACKING_ENTRIES */
	GPU_E_BACKING_RAM,     /* a backing entry not inside one RAM region */
	GPU_E_BACKING_ATTACHED, /* ATTACH_BACKING to a resource that has backing */
	GPU_E_NO_BACKING,	/* TRANSFER or DETACH without backing */
	GPU_E_BACKING_RANGE,	/* TRANSFER would read past the end of the backing */
};

/* A request, copied out of guest memory and decoded to host order. */
struct gpu_cmd {
	/* the header: always filled when at least GPU_HDR_SIZE bytes were readable */
	uint32_t type;
	uint32_t flags;
	uint64_t fence_id;
	uint32_t ctx_id;
	/* the body, as the type has them */
	uint32_t resource_id;
	uint32_t scanout_id;
	uint32_t format; /* RESOURCE_CREATE_2D, and display_format for it */
	enum display_format display_format;
	uint32_t width, height;
	struct display_rect rect; /* SET_SCANOUT, RESOURCE_FLUSH, TRANSFER_TO_HOST_2D */
	uint64_t offset;	  /* TRANSFER_TO_HOST_2D: where row 0 starts in the backing */
	uint32_t x, y;		  /* cursor position */
	uint32_t hot_x, hot_y;	  /* UPDATE_CURSOR */
	/* ATTACH_BACKING: backing[0, nr_backing) of the context, backing_len bytes */
	unsigned nr_backing;
	uint64_t backing_len;
};

/* What the parser checks against. */
struct gpu_cmd_ctx {
	const struct gmem *mem;
	const struct gpu_resources *resources;
	/* room for GPU_MAX_BACKING_ENTRIES: ATTACH_BACKING puts its iovecs here */
	struct iovec *backing;
};

/*
 * Parses the device-readable bytes iov[0, n) of a chain of the control queue
 * (cursorq false) or the cursor queue (cursorq true) into cmd. Copies every
 * byte it decides on out of guest memory first; reads nothing but those
 * bytes and writes nothing but cmd and ctx->backing. Extra bytes after the
 * command are ignored.
 *
 * The control queue takes GET_DISPLAY_INFO, GET_EDID, RESOURCE_CREATE_2D,
 * RESOURCE_UNREF, SET_SCANOUT, RESOURCE_FLUSH, TRANSFER_TO_HOST_2D,
 * RESOURCE_ATTACH_BACKING and RESOURCE_DETACH_BACKING; the cursor queue
 * UPDATE_CURSOR and MOVE_CURSOR; anything else is GPU_E_UNKNOWN. On
 * GPU_E_OK:
 *  GET_EDID        scanout_id is 0.
 *  CREATE_2D       resource_id is not 0 and not in use, format is one of the
 *                  8 (display_format set), 1 <= width <= DISPLAY_MAX_WIDTH,
 *                  1 <= height <= DISPLAY_MAX_HEIGHT, fewer than
 *                  GPU_MAX_RESOURCES exist and width * height * 4 more bytes
 *                  stay within GPU_MAX_HOST_BYTES.
 *  UNREF           resource_id exists.
 *  SET_SCANOUT     scanout_id is 0; resource_id is 0 (disable: rect ignored)
 *                  or exists and rect is non-empty and inside it.
 *  FLUSH           resource_id exists, rect inside it (may be empty).
 *  TRANSFER        resource_id exists and has backing, rect inside it (may
 *                  be empty), and for a non-empty rect the backing holds the
 *                  bytes [offset + i * width * 4, + rect.w * 4) of every row
 *                  i < rect.h.
 *  ATTACH_BACKING  resource_id exists without backing; 1 <= nr_entries <=
 *                  GPU_MAX_BACKING_ENTRIES entries follow the command, each
 *                  inside one RAM region (gmem_ptr()); their iovecs are in
 *                  ctx->backing[0, cmd->nr_backing), empty entries left out
 *                  and adjacent ones merged; the list fits GPU_MAX_HOST_BYTES.
 *  DETACH_BACKING  resource_id exists and has backing.
 *  UPDATE_CURSOR   scanout_id is 0; resource_id 0 (hide) or existing.
 *  MOVE_CURSOR     scanout_id is 0.
 * Checks run in order: header length, type, command length, then fields as
 * listed. Rectangles and offsets are checked in 64-bit arithmetic, which
 * cannot overflow for 32-bit inputs.
 */
enum gpu_cmd_error gpu_cmd_parse(const struct iovec *iov, unsigned n, bool cursorq,
				 const struct gpu_cmd_ctx *ctx, struct gpu_cmd *cmd)
	__attribute__((warn_unused_result));

/* The slot of the resource with id (not 0) in resources->slots, or -1. */
int gpu_resource_index(const struct gpu_resources *resources, uint32_t id);

/* The format of §5.7.6.8 as a display format; false for any other value. */
bool gpu_format_to_display(uint32_t format, enum display_format *out);

/* The VIRTIO_GPU_RESP_ERR_* a refused request is answered with. */
uint32_t gpu_cmd_response(enum gpu_cmd_error err);

const char *gpu_cmd_strerror(enum gpu_cmd_error err);

#endif
