/* virtio-input (virtio 1.2 §5.8): a keyboard or an absolute pointer (tablet) for the guest. */
#ifndef HUTCH_DEVICES_VIRTIO_INPUT_H
#define HUTCH_DEVICES_VIRTIO_INPUT_H

#include <stdint.h>

#include "devices/display/display.h"
#include "devices/virtio/virtio.h"

/* virtio 1.2 §5.8.4: struct virtio_input_config is 8 bytes of header and a 128-byte union. */
#define VIRTIO_INPUT_CONFIG_SIZE 136
#define VIRTIO_INPUT_QUEUE_SIZE	 64
/* Events waiting for guest buffers, EV_SYN included; whole groups that do not fit are dropped. */
#define VIRTIO_INPUT_PENDING_MAX 256

/* virtio 1.2 §5.8.2: what the driver selects in the configuration space. */
enum virtio_input_config_select {
	VIRTIO_INPUT_CFG_UNSET = 0x00,
	VIRTIO_INPUT_CFG_ID_NAME = 0x01,
	VIRTIO_INPUT_CFG_ID_SERIAL = 0x02,
	VIRTIO_INPUT_CFG_ID_DEVIDS = 0x03,
	VIRTIO_INPUT_CFG_PROP_BITS = 0x10,
	VIRTIO_INPUT_CFG_EV_BITS = 0x11,
	VIRTIO_INPUT_CFG_ABS_INFO = 0x12,
};

/* virtio 1.2 §5.8.6: one event, as it sits in a guest buffer (little-endian). */
struct virtio_input_event {
	uint16_t type;
	uint16_t code;
	uint32_t value;
};

enum virtio_input_kind {
	VIRTIO_INPUT_KEYBOARD, /* KEY_* codes 1..255, autorepeat, three LEDs */
	VIRTIO_INPUT_TABLET,   /* ABS_X/ABS_Y in 0..DISPLAY_ABS_MAX, five buttons, a wheel */
};

struct virtio_input {
	struct virtio_dev vdev;
	enum virtio_input_kind kind;
	uint8_t config[VIRTIO_INPUT_CONFIG_SIZE];

	/* Events from front ends, between any thread and the I/O thread. */
	pthread_mutex_t events_lock;
	bool active;  /* the driver is using the device: events are kept */
	int event_fd; /* eventfd: a group is ready; open while active */
	struct virtio_input_event pending[VIRTIO_INPUT_PENDING_MAX]; /* ring, host order */
	unsigned pending_head;					     /* the oldest event */
	unsigned pending_ready; /* events of whole groups, ready for the guest */
	unsigned pending_open;	/* events of the group not yet synced, after the ready ones */
	bool open_dropped;	/* the open group did not fit: the rest of it goes too */
	uint64_t dropped_groups;

	atomic_uint leds;	   /* LED_* bits the driver last set (statusq) */
	atomic_uint status_events; /* events the driver sent on the statusq */
	struct virtq_chain chain;  /* I/O thread only */
};

/* Fills in in->vdev for a transport. */
void virtio_input_init(struct virtio_input *in, enum virtio_input_kind kind);

/* The event/sync callbacks with which a front end or send-key feeds in (any thread). */
void virtio_input_display_ops(struct virtio_input *in, struct display_input_ops *out);

#endif
