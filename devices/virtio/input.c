/* virtio-input: eventq 0 carries front-end events to the guest, statusq 1 its LED changes back. */
#include "devices/virtio/input.h"

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <linux/input-event-codes.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/iov.h"
#include "vmm/log.h"
#include "vmm/le.h"

#define INPUT_EVENTQ  0
#define INPUT_STATUSQ 1

/* virtio 1.2 §5.8.4: where the fields of struct virtio_input_config sit. */
#define CFG_SELECT     0
#define CFG_SUBSEL     1
#define CFG_SIZE       2
#define CFG_UNION      8
#define CFG_UNION_SIZE (VIRTIO_INPUT_CONFIG_SIZE - CFG_UNION)

/* Linux's BUS_VIRTUAL (<linux/input.h>); the IDs are hutch's own. */
#define INPUT_BUS_VIRTUAL 0x06
#define INPUT_VENDOR	  0x1af4
#define INPUT_VERSION	  1

struct input_identity {
	const char *name, *serial;
	uint16_t product;
};

static const struct input_identity input_identities[] = {
	[VIRTIO_INPUT_KEYBOARD] = { "hutch keyboard", "hutch-keyboard", 0x0001 },
	[VIRTIO_INPUT_TABLET] = { "hutch tablet", "hutch-tablet", 0x0002 },
};

/* --- configuration space (virtio 1.2 §5.8.5), under vdev->lock --- */

static void bitmap_set(uint8_t *bitmap, unsigned bit, unsigned *size)
{
	bitmap[bit / 8] |= (uint8_t)(1u << (bit % 8));
	if (*size < bit / 8 + 1)
		*size = bit / 8 + 1;
}

/* The codes the device can send (or, for EV_LED, take) of event type; the bitmap's size. */
static unsigned input_ev_bits(enum virtio_input_kind kind, unsigned type, uint8_t *bitmap)
{
	static const uint16_t tablet_buttons[] = { BTN_LEFT, BTN_RIGHT, BTN_MIDDLE, BTN_SIDE,
						   BTN_EXTRA };
	unsigned size = 0;

	if (kind == VIRTIO_INPUT_KEYBOARD) {
		switch (type) {
		case EV_KEY:
			/* KEY_ESC..KEY_MICMUTE and the rest of the first 256: every
			 * code keymap.c produces */
			for (unsigned code = KEY_ESC; code <= 255; code++)
				bitmap_set(bitmap, code, &size);
			break;
		case EV_REP:
			/* Linux only looks at the size: the guest repeats keys itself */
			size = 1;
			break;
		case EV_LED:
			bitmap_set(bitmap, LED_NUML, &size);
			bitmap_set(bitmap, LED_CAPSL, &size);
			bitmap_set(bitmap, LED_SCROLLL, &size);
			break;
		}
		return size;
	}
	switch (type) {
	case EV_KEY:
		for (unsigned i = 0; i < sizeof(tablet_buttons) / sizeof(tablet_buttons[0]); i++)
			bitmap_set(bitmap, tablet_buttons[i], &size);
		break;
	case EV_REL: bitmap_set(bitmap, REL_WHEEL, &size); break;
	case EV_ABS:
		bitmap_set(bitmap, ABS_X, &size);
		bitmap_set(bitmap, ABS_Y, &size);
		break;
	}
	return size;
}

/* The answer to the driver's select/subsel: size and union, the rest zero. */
static unsigned input_config_answer(enum virtio_input_kind kind, uint8_t select, uint8_t subsel,
				    uint8_t *u)
{
	const struct input_identity *id = &input_identities[kind];

	switch (select) {
	case VIRTIO_INPUT_CFG_ID_NAME:
	case VIRTIO_INPUT_CFG_ID_SERIAL: {
		/* the string's length, without a NUL (the union is zeroed) */
		const char *s = select == VIRTIO_INPUT_CFG_ID_NAME ? id->name : id->serial;
		size_t len = strlen(s);

		if (subsel)
			return 0;
		memcpy(u, s, len);
		return (unsigned)len;
	}
	case VIRTIO_INPUT_CFG_ID_DEVIDS:
		if (subsel)
			return 0;
		/* struct virtio_input_devids: bustype, vendor, product, version */
		put_le16(u + 0, INPUT_BUS_VIRTUAL);
		put_le16(u + 2, INPUT_VENDOR);
		put_le16(u + 4, id->product);
		put_le16(u + 6, INPUT_VERSION);
		return 8;
	case VIRTIO_INPUT_CFG_PROP_BITS:
		/* no INPUT_PROP_*: a tablet is no direct (touch screen) device */
		return 0;
	case VIRTIO_INPUT_CFG_EV_BITS: return input_ev_bits(kind, subsel, u);
	case VIRTIO_INPUT_CFG_ABS_INFO:
		if (kind != VIRTIO_INPUT_TABLET || (subsel != ABS_X && subsel != ABS_Y))
			return 0;
		/* struct virtio_input_absinfo: min, max, fuzz, flat, res */
		put_le32(u + 0, 0);
		put_le32(u + 4, DISPLAY_ABS_MAX);
		return 20;
	}
	return 0; /* UNSET or unknown: §5.8.5.1 "size ... zero" */
}

static void input_config_update(struct virtio_input *in)
{
	uint8_t *c = in->config;

	memset(c + CFG_SIZE, 0, VIRTIO_INPUT_CONFIG_SIZE - CFG_SIZE);
	c[CFG_SIZE] =
		(uint8_t)input_config_answer(in->kind, c[CFG_SELECT], c[CFG_SUBSEL], c + CFG_UNION);
}

/* The driver writes select and subsel only (§5.8.5.2); the rest is the device's. */
static void input_config_write(struct virtio_dev *vdev, unsigned offset, const void *data,
			       unsigned len)
{
	struct virtio_input *in = vdev->opaque;
	const uint8_t *bytes = data;
	bool changed = false;

	pthread_mutex_lock(&vdev->lock);
	for (unsigned i = 0; i < len; i++) {
		if (offset + i == CFG_SELECT || offset + i == CFG_SUBSEL) {
			in->config[offset + i] = bytes[i];
			changed = true;
		}
	}
	if (changed)
		input_config_update(in);
	pthread_mutex_unlock(&vdev->lock);
}

/* --- events from front ends, any thread --- */

static void pending_clear(struct virtio_input *in)
{
	in->pending_head = in->pending_ready = in->pending_open = 0;
	in->open_dropped = false;
}

static void pending_append(struct virtio_input *in, uint16_t type, uint16_t code, int32_t value)
{
	unsigned at = (in->pending_head + in->pending_ready + in->pending_open) %
		      VIRTIO_INPUT_PENDING_MAX;

	in->pending[at] = (struct virtio_input_event){ type, code, (uint32_t)value };
	in->pending_open++;
}

static void input_sync(void *opaque)
{
	struct virtio_input *in = opaque;
	bool dropped = false;
	uint64_t one = 1;

	pthread_mutex_lock(&in->events_lock);
	if (!in->active) {
		/* the driver is not listening: nothing was kept */
	} else if (in->open_dropped) {
		in->open_dropped = false;
		in->dropped_groups++;
		dropped = true;
	} else if (in->pending_open) {
		/* room for the EV_SYN was kept by input_event() */
		pending_append(in, EV_SYN, SYN_REPORT, 0);
		in->pending_ready += in->pending_open;
		in->pending_open = 0;
		/* under the lock: reset closes the eventfd under it */
		if (write(in->event_fd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow: the loop is already woken */
		}
	}
	pthread_mutex_unlock(&in->events_lock);
	if (dropped)
		LOG_RATELIMITED("%s: the guest is not taking events; dropped a group",
				input_identities[in->kind].name);
}

static void input_event(void *opaque, uint16_t type, uint16_t code, int32_t value)
{
	struct virtio_input *in = opaque;

	if (type == EV_SYN && code == SYN_REPORT) {
		input_sync(in);
		return;
	}
	pthread_mutex_lock(&in->events_lock);
	if (in->active && !in->open_dropped) {
		/* this event and the group's EV_SYN must fit, or the group goes */
		if (in->pending_ready + in->pending_open + 2 > VIRTIO_INPUT_PENDING_MAX) {
			in->open_dropped = true;
			in->pending_open = 0;
		} else {
			pending_append(in, type, code, value);
		}
	}
	pthread_mutex_unlock(&in->events_lock);
}

static unsigned input_room(void *opaque)
{
	struct virtio_input *in = opaque;
	unsigned room = UINT_MAX;

	pthread_mutex_lock(&in->events_lock);
	if (in->active)
		room = VIRTIO_INPUT_PENDING_MAX - in->pending_ready - in->pending_open;
	pthread_mutex_unlock(&in->events_lock);
	return room;
}

void virtio_input_display_ops(struct virtio_input *in, struct display_input_ops *out)
{
	out->event = input_event;
	out->sync = input_sync;
	out->room = input_room;
	out->opaque = in;
}

/* --- the queues, on the I/O thread --- */

/* Puts ready events into the guest's buffers, one per buffer, as far as both go. */
static void input_deliver(struct virtio_input *in)
{
	struct virtio_dev *vdev = &in->vdev;
	struct virtq_chain *chain = &in->chain;

	pthread_mutex_lock(&in->events_lock);
	while (in->pending_ready && virtio_pop(vdev, INPUT_EVENTQ, chain) == 1) {
		const struct virtio_input_event *ev = &in->pending[in->pending_head];
		struct virtio_input_event le = { htole16(ev->type), htole16(ev->code),
						 htole32(ev->value) };

		if (chain->in_len < sizeof(le)) {
			/* the event stays for the next buffer */
			LOG_RATELIMITED("%s: event buffer of %u writable bytes",
					input_identities[in->kind].name, chain->in_len);
			virtio_push(vdev, INPUT_EVENTQ, chain->head, 0);
			continue;
		}
		iov_from_buf(virtq_chain_in(chain), chain->in_num, 0, &le, sizeof(le));
		virtio_push(vdev, INPUT_EVENTQ, chain->head, sizeof(le));
		in->pending_head = (in->pending_head + 1) % VIRTIO_INPUT_PENDING_MAX;
		in->pending_ready--;
	}
	pthread_mutex_unlock(&in->events_lock);
	virtio_notify(vdev, INPUT_EVENTQ);
}

/* The driver's output events (§5.8.6.2): LED changes are noted; each buffer completes. */
static void input_status(struct virtio_input *in)
{
	struct virtio_dev *vdev = &in->vdev;
	struct virtq_chain *chain = &in->chain;

	while (virtio_pop(vdev, INPUT_STATUSQ, chain) == 1) {
		struct virtio_input_event ev;

		/* one event per buffer, as Linux sends them */
		if (iov_to_buf(virtq_chain_out(chain), chain->out_num, 0, &ev, sizeof(ev)) ==
		    sizeof(ev)) {
			uint16_t code = le16toh(ev.code);

			atomic_fetch_add(&in->status_events, 1);
			if (le16toh(ev.type) == EV_LED && code < 32) {
				if (le32toh(ev.value))
					atomic_fetch_or(&in->leds, 1u << code);
				else
					atomic_fetch_and(&in->leds, ~(1u << code));
			}
		}
		virtio_push(vdev, INPUT_STATUSQ, chain->head, 0);
	}
	virtio_notify(vdev, INPUT_STATUSQ);
}

static void input_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_input *in = vdev->opaque;

	if (q == INPUT_EVENTQ)
		input_deliver(in);
	else
		input_status(in);
}

static void input_wake(void *opaque)
{
	struct virtio_input *in = opaque;
	uint64_t n;

	if (read(in->event_fd, &n, sizeof(n)) == sizeof(n))
		input_deliver(in);
}

static int input_activate(struct virtio_dev *vdev)
{
	struct virtio_input *in = vdev->opaque;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int ret;

	if (fd < 0)
		return -errno;
	/* input_wake() runs on this thread, so not before event_fd is set */
	ret = evloop_add(vdev->loop, fd, input_wake, in);
	if (ret) {
		close(fd);
		return ret;
	}
	pthread_mutex_lock(&in->events_lock);
	in->event_fd = fd;
	pending_clear(in);
	in->active = true;
	pthread_mutex_unlock(&in->events_lock);
	return 0;
}

static void input_reset(struct virtio_dev *vdev)
{
	struct virtio_input *in = vdev->opaque;

	evloop_del(vdev->loop, in->event_fd);
	pthread_mutex_lock(&in->events_lock);
	in->active = false;
	close(in->event_fd);
	in->event_fd = -1;
	pending_clear(in);
	pthread_mutex_unlock(&in->events_lock);
	atomic_store(&in->leds, 0);
}

static const struct virtio_dev_ops input_ops = {
	.name = "virtio-input",
	.device_id = VIRTIO_ID_INPUT,
	.pci_class = 0x098000, /* input device controller, other */
	.config_write = input_config_write,
	.activate = input_activate,
	.queue_notify = input_queue_notify,
	.reset = input_reset,
};

void virtio_input_init(struct virtio_input *in, enum virtio_input_kind kind)
{
	memset(in, 0, offsetof(struct virtio_input, chain));
	in->kind = kind == VIRTIO_INPUT_TABLET ? VIRTIO_INPUT_TABLET : VIRTIO_INPUT_KEYBOARD;
	pthread_mutex_init(&in->events_lock, NULL);
	in->event_fd = -1;
	in->vdev.ops = &input_ops;
	in->vdev.opaque = in;
	in->vdev.features = 1ULL << VIRTIO_F_INDIRECT_DESC | 1ULL << VIRTIO_F_EVENT_IDX;
	in->vdev.num_queues = 2;
	in->vdev.queues[INPUT_EVENTQ].size_max = VIRTIO_INPUT_QUEUE_SIZE;
	in->vdev.queues[INPUT_STATUSQ].size_max = VIRTIO_INPUT_QUEUE_SIZE;
	in->vdev.config = in->config;
	in->vdev.config_size = VIRTIO_INPUT_CONFIG_SIZE;
	input_config_update(in);
}
