/* virtio-gpu (virtio 1.2 §5.7), 2D only: one scanout shown through the display. */
#ifndef HUTCH_DEVICES_VIRTIO_GPU_H
#define HUTCH_DEVICES_VIRTIO_GPU_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/display/display.h"
#include "devices/virtio/gpu_cmd.h"
#include "devices/virtio/virtio.h"

#define VIRTIO_GPU_CONFIG_SIZE 16 /* struct virtio_gpu_config */
#define VIRTIO_GPU_CTRLQ       0
#define VIRTIO_GPU_CURSORQ     1
#define VIRTIO_GPU_QUEUE_SIZE  256

/* The smallest mode the device offers when a front end asks for less. */
#define VIRTIO_GPU_MIN_WIDTH  320
#define VIRTIO_GPU_MIN_HEIGHT 200

/*
 * What the device needs of the display, so that gpu.c does not link to
 * display.c: virtio_gpu_init() passes display.h's own functions, tests pass
 * fakes. set_surface, update, lock and unlock are called on the device's
 * I/O thread (and from reset and virtio_gpu_destroy()), set_gpu from
 * virtio_gpu_init_ops() and virtio_gpu_destroy().
 *
 * The display shows the scanout resource's own pixels (no copy). So the
 * device calls set_surface (to another resource, or NULL) before it frees
 * the pixels the display points into: on RESOURCE_UNREF of the resource
 * on screen (the scanout goes off, as in QEMU), on reset and in
 * virtio_gpu_destroy(). And it writes into the resource on screen
 * (TRANSFER_TO_HOST_2D) only between lock and unlock, a band of rows at a
 * time, so that a front end reading the surface never races it; transfers
 * into other resources take no lock.
 */
struct virtio_gpu_display_ops {
	/* SET_SCANOUT, and before the pixels shown are freed; see display_set_surface() */
	void (*set_surface)(struct display *d, const uint8_t *data, uint32_t width, uint32_t height,
			    size_t stride, enum display_format fmt);
	/* RESOURCE_FLUSH of the resource on screen: r in surface coordinates */
	void (*update)(struct display *d, const struct display_rect *r);
	/* around writes into the pixels on screen; nothing else is called in between */
	void (*lock)(struct display *d);
	void (*unlock)(struct display *d);
	void (*set_gpu)(struct display *d, const struct display_gpu_ops *ops);
};

struct virtio_gpu {
	struct virtio_dev vdev;
	uint8_t config[VIRTIO_GPU_CONFIG_SIZE]; /* under vdev.lock */
	const struct virtio_gpu_display_ops *display_ops;
	struct display *display;
	/* the mode offered in GET_DISPLAY_INFO and GET_EDID; under vdev.lock */
	uint32_t mode_width, mode_height;
	atomic_bool active; /* activate() ran and reset() has not: config changes interrupt */

	/* The rest belongs to the I/O thread. */
	struct gpu_resources resources;
	struct {
		uint32_t resource_id;	  /* 0: disabled, and the display shows nothing */
		struct display_rect rect; /* the part of the resource shown: the surface */
	} scanout;
	struct {
		uint32_t resource_id; /* 0: hidden */
		uint32_t x, y, hot_x, hot_y;
	} cursor;
	struct iovec *backing_scratch; /* GPU_MAX_BACKING_ENTRIES, for the parser */
	struct gpu_cmd cmd;
	uint8_t resp[GPU_RESP_EDID]; /* the largest response */
	struct virtq_chain chain;
};

/*
 * Fills in gpu->vdev for a transport, offering a width x height mode
 * (clamped to VIRTIO_GPU_MIN_* .. DISPLAY_MAX_*), and registers with the
 * display through ops->set_gpu so that display_request_mode() changes the
 * offered mode and tells the driver. 0 or -ENOMEM.
 */
int virtio_gpu_init_ops(struct virtio_gpu *gpu, const struct virtio_gpu_display_ops *ops,
			struct display *display, uint32_t width, uint32_t height)
	__attribute__((warn_unused_result));

/*
 * virtio_gpu_init_ops() with the display's own functions. Inline, so that
 * only the machine that calls it links display.c.
 */
static inline int virtio_gpu_init(struct virtio_gpu *gpu, struct display *display, uint32_t width,
				  uint32_t height)
{
	static const struct virtio_gpu_display_ops ops = {
		.set_surface = display_set_surface,
		.update = display_update,
		.lock = display_lock,
		.unlock = display_unlock,
		.set_gpu = display_set_gpu,
	};

	return virtio_gpu_init_ops(gpu, &ops, display, width, height);
}

/*
 * After the transport stopped the device, before the display goes:
 * unregisters from the display, takes the surface off it and frees all
 * resources. Does nothing when
 * virtio_gpu_init_ops() failed (or never ran on a zeroed gpu).
 */
void virtio_gpu_destroy(struct virtio_gpu *gpu);

/*
 * On the I/O thread: carries out one popped chain of queue q
 * (VIRTIO_GPU_CTRLQ or VIRTIO_GPU_CURSORQ) and writes the response to its
 * device-writable buffers. Returns the bytes written, for virtio_push().
 * Exported for the unit tests and the fuzz target; the queues use it.
 */
uint32_t virtio_gpu_handle_chain(struct virtio_gpu *gpu, unsigned q,
				 const struct virtq_chain *chain);

/* Any thread: offers width x height (clamped) to the driver; what request_mode does. */
void virtio_gpu_set_mode(struct virtio_gpu *gpu, uint32_t width, uint32_t height);

#endif
