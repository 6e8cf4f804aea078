/*
 * Unit tests for devices/virtio/input.c: a real virtio-input keyboard or
 * tablet over the PCI transport, the test playing the guest's driver
 * (configuration space, eventq, statusq) and the front end (event/sync).
 */
#include "virtio_driver.h"

#include <linux/input-event-codes.h>
#include <limits.h>
#include <pthread.h>

#include "devices/virtio/input.h"

#define EVENTQ	0
#define STATUSQ 1
#define QSIZE	VIRTIO_INPUT_QUEUE_SIZE
#define EV_SIZE 8
#define W	VIRTQ_DESC_F_WRITE
/* Where the event buffers live: one 16-byte slot per descriptor of the eventq. */
#define EV_BUF(i) (B_GPA + 16ULL * (i))
#define ST_BUF(i) (B_GPA + 0x1000 + 16ULL * (i))

struct it {
	struct fixture f;
	struct virtio_input in;
	struct display_input_ops ops;
	uint16_t avail_idx[2], used_seen[2]; /* the driver's view */
};

static int setup_kind(void **state, enum virtio_input_kind kind)
{
	struct it *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	virtio_input_init(&t->in, kind);
	virtio_input_display_ops(&t->in, &t->ops);
	if (fixture_init(&t->f, &t->in.vdev))
		return -1;
	*state = t;
	return 0;
}

static int setup_keyboard(void **state)
{
	return setup_kind(state, VIRTIO_INPUT_KEYBOARD);
}

static int setup_tablet(void **state)
{
	return setup_kind(state, VIRTIO_INPUT_TABLET);
}

static int teardown_input(void **state)
{
	struct it *t = *state;

	fixture_fini(&t->f); /* resets an active device: closes its eventfd */
	free(t);
	return 0;
}

/* ------------------------------------------------------- the driver ---- */

/* Negotiates VERSION_1, sets up both queues over zeroed rings, sets DRIVER_OK. */
static void input_start(struct it *t)
{
	struct fixture *f = &t->f;

	TEST_ASSERT(negotiate(f, F_VERSION_1 | 1ULL << VIRTIO_F_EVENT_IDX), "FEATURES_OK refused");
	memset(gmem_ptr(&f->mem, ring_gpa(0, 0), 0x8000), 0, 0x8000);
	cc_write(f, MSIX_CFG, 2, 0);
	for (unsigned q = 0; q < 2; q++) {
		setup_queue_at(f, q, ring_gpa(q, 0), ring_gpa(q, 1), ring_gpa(q, 2));
		t->avail_idx[q] = t->used_seen[q] = 0;
	}
	add_status(f, S_DRIVER_OK);
	TEST_ASSERT_EQ(status(f), S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	settle(f); /* activate() ran */
}

static void put_desc(struct it *t, unsigned q, uint16_t i, uint64_t gpa, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { htole64(gpa), htole32(len), htole16(flags), htole16(next) };

	TEST_ASSERT_EQ(gmem_write(&t->f.mem, ring_gpa(q, 0) + 16ULL * i, &d, sizeof(d)), 0);
}

static void avail_add(struct it *t, unsigned q, uint16_t head)
{
	put16(&t->f, ring_gpa(q, 1) + 4 + 2 * (t->avail_idx[q] % QSIZE), head);
	put16(&t->f, ring_gpa(q, 1) + 2, ++t->avail_idx[q]);
}

/*
 * The next n eventq buffers, one descriptor each, made available: the
 * descriptor (and buffer slot) index follows the avail index, so a slot is
 * reused only after its event was taken.
 */
static void post_event_bufs(struct it *t, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		uint16_t d = t->avail_idx[EVENTQ] % QSIZE;

		memset(gmem_ptr(&t->f.mem, EV_BUF(d), 16), 0xee, 16);
		put_desc(t, EVENTQ, d, EV_BUF(d), EV_SIZE, W, 0);
		avail_add(t, EVENTQ, d);
	}
}

static void kick(struct it *t, unsigned q)
{
	notify(&t->f, q);
	settle(&t->f);
}

static uint16_t used_idx(struct it *t, unsigned q)
{
	return get16(&t->f, ring_gpa(q, 2) + 2);
}

/* The next used entry of queue q; its head in *head, its length returned. */
static uint32_t take_used(struct it *t, unsigned q, uint16_t *head)
{
	uint16_t i = t->used_seen[q]++;
	uint32_t e[2];

	TEST_ASSERT(used_idx(t, q) != i, "queue %u: no used entry %u", q, i);
	TEST_ASSERT_EQ(gmem_read(&t->f.mem, e, ring_gpa(q, 2) + 4 + 8ULL * (i % QSIZE), 8), 0);
	*head = (uint16_t)le32toh(e[0]);
	return le32toh(e[1]);
}

/* The next used eventq entry holds (type, code, value) in a whole 8-byte event. */
static void expect_event(struct it *t, uint16_t type, uint16_t code, int32_t value)
{
	struct virtio_input_event ev;
	uint16_t head;
	uint32_t len = take_used(t, EVENTQ, &head);

	TEST_ASSERT_EQ(len, EV_SIZE);
	TEST_ASSERT_EQ(gmem_read(&t->f.mem, &ev, EV_BUF(head), sizeof(ev)), 0);
	TEST_ASSERT(le16toh(ev.type) == type && le16toh(ev.code) == code &&
			    (int32_t)le32toh(ev.value) == value,
		    "event %u is (%u, %u, %d), expected (%u, %u, %d)", t->used_seen[EVENTQ] - 1,
		    le16toh(ev.type), le16toh(ev.code), (int32_t)le32toh(ev.value), type, code,
		    value);
}

static void expect_syn(struct it *t)
{
	expect_event(t, EV_SYN, SYN_REPORT, 0);
}

static void expect_used_end(struct it *t, unsigned q)
{
	TEST_ASSERT_EQ(used_idx(t, q), t->used_seen[q]);
}

/* A front end's key press or release, with its sync. */
static void key(struct it *t, uint16_t code, int32_t value)
{
	t->ops.event(t->ops.opaque, EV_KEY, code, value);
	t->ops.sync(t->ops.opaque);
}

/* -------------------------------------------- configuration space ---- */

static unsigned cfg_select(struct it *t, uint8_t select, uint8_t subsel)
{
	bar4_write(&t->f, DEVCFG + 0, 1, select);
	bar4_write(&t->f, DEVCFG + 1, 1, subsel);
	return (unsigned)bar4_read(&t->f, DEVCFG + 2, 1);
}

/* The union's 128 bytes, read a byte at a time as Linux's virtio_cread_bytes() does. */
static void cfg_union(struct it *t, uint8_t *u)
{
	for (unsigned i = 0; i < 128; i++)
		u[i] = (uint8_t)bar4_read(&t->f, DEVCFG + 8 + i, 1);
}

static bool bit(const uint8_t *bitmap, unsigned n)
{
	return bitmap[n / 8] >> (n % 8) & 1;
}

/* Hostile first: what the device does not know has size 0 and an all-zero union. */
static void test_config_bogus_selects(void **state)
{
	struct it *t = *state;
	static const uint8_t common[][2] = {
		{ VIRTIO_INPUT_CFG_UNSET, 0 },
		{ VIRTIO_INPUT_CFG_UNSET, EV_KEY },
		{ 0x04, 0 },
		{ 0x0f, 0 },
		{ 0x13, 0 },
		{ 0xff, 0xff },
		{ VIRTIO_INPUT_CFG_ID_NAME, 1 },
		{ VIRTIO_INPUT_CFG_ID_SERIAL, 0xff },
		{ VIRTIO_INPUT_CFG_ID_DEVIDS, 2 },
		{ VIRTIO_INPUT_CFG_PROP_BITS, 1 },
		{ VIRTIO_INPUT_CFG_EV_BITS, EV_SYN },
		{ VIRTIO_INPUT_CFG_EV_BITS, EV_SW },
		{ VIRTIO_INPUT_CFG_EV_BITS, EV_MSC },
		{ VIRTIO_INPUT_CFG_EV_BITS, 0xff },
		{ VIRTIO_INPUT_CFG_ABS_INFO, 0xff },
	};
	static const uint8_t keyboard[][2] = {
		{ VIRTIO_INPUT_CFG_EV_BITS, EV_ABS },
		{ VIRTIO_INPUT_CFG_EV_BITS, EV_REL },
		{ VIRTIO_INPUT_CFG_ABS_INFO, ABS_X },
	};
	static const uint8_t tablet[][2] = {
		{ VIRTIO_INPUT_CFG_EV_BITS, EV_LED },
		{ VIRTIO_INPUT_CFG_EV_BITS, EV_REP },
		{ VIRTIO_INPUT_CFG_ABS_INFO, ABS_Z },
	};
	bool is_keyboard = t->in.kind == VIRTIO_INPUT_KEYBOARD;
	const uint8_t(*own)[2] = is_keyboard ? keyboard : tablet;
	uint8_t u[128], zero[128] = { 0 };

	/* At power-on: UNSET. */
	TEST_ASSERT_EQ(bar4_read(&t->f, DEVCFG + 2, 1), 0);
	for (unsigned i = 0; i < ARRAY_LEN(common) + ARRAY_LEN(keyboard); i++) {
		const uint8_t *sel = i < ARRAY_LEN(common) ? common[i] : own[i - ARRAY_LEN(common)];

		/* a long answer first, so that stale bytes would show */
		TEST_ASSERT_NE(cfg_select(t, VIRTIO_INPUT_CFG_ID_NAME, 0), 0);
		TEST_ASSERT(cfg_select(t, sel[0], sel[1]) == 0, "select %#x/%#x has size", sel[0],
			    sel[1]);
		cfg_union(t, u);
		TEST_ASSERT(!memcmp(u, zero, sizeof(u)), "select %#x/%#x: stale union", sel[0],
			    sel[1]);
	}

	/* The driver cannot write size or union; select and subsel read back. */
	TEST_ASSERT_EQ(cfg_select(t, VIRTIO_INPUT_CFG_ID_DEVIDS, 0), 8);
	bar4_write(&t->f, DEVCFG + 2, 1, 0x7f);
	bar4_write(&t->f, DEVCFG + 8, 4, 0xdeadbeef);
	bar4_write(&t->f, DEVCFG + 3, 4, 0xdeadbeef);
	TEST_ASSERT_EQ(bar4_read(&t->f, DEVCFG + 0, 4), VIRTIO_INPUT_CFG_ID_DEVIDS | 8 << 16);
	TEST_ASSERT_EQ(bar4_read(&t->f, DEVCFG + 8, 2), 0x06);
	TEST_ASSERT_EQ(bar4_read(&t->f, DEVCFG + 4, 4), 0);
	/* One 2-byte write sets select and subsel together; a 4-byte one too, size untouched. */
	bar4_write(&t->f, DEVCFG + 0, 2, VIRTIO_INPUT_CFG_EV_BITS | EV_LED << 8);
	TEST_ASSERT_EQ(bar4_read(&t->f, DEVCFG + 0, 4),
		       VIRTIO_INPUT_CFG_EV_BITS | EV_LED << 8 | (is_keyboard ? 1 << 16 : 0));
	bar4_write(&t->f, DEVCFG + 0, 4, 0xffffff00 | VIRTIO_INPUT_CFG_ID_NAME);
	TEST_ASSERT_EQ(bar4_read(&t->f, DEVCFG + 2, 1), 0); /* subsel 0xff */
	/* A write past the end is ignored; reads there are all-ones (transport). */
	bar4_write(&t->f, DEVCFG + VIRTIO_INPUT_CONFIG_SIZE, 4, 0);
	TEST_ASSERT_EQ(bar4_read(&t->f, DEVCFG + VIRTIO_INPUT_CONFIG_SIZE - 1, 2), 0xffff);
	/* Nothing here needs the driver to have started the device. */
	TEST_ASSERT_EQ(status(&t->f) & S_NEEDS_RESET, 0);
}

static void test_config_keyboard(void **state)
{
	struct it *t = *state;
	uint8_t u[128];

	TEST_ASSERT_EQ(cfg_select(t, VIRTIO_INPUT_CFG_ID_NAME, 0), strlen("hutch keyboard"));
	cfg_union(t, u);
	TEST_ASSERT(!memcmp(u, "hutch keyboard", 15), "name '%.*s'", 14, (char *)u);
	TEST_ASSERT_NE(cfg_select(t, VIRTIO_INPUT_CFG_ID_SERIAL, 0), 0);
	TEST_ASSERT_EQ(cfg_select(t, VIRTIO_INPUT_CFG_ID_DEVIDS, 0), 8);
	cfg_union(t, u);
	TEST_ASSERT_EQ(u[0] | u[1] << 8, 0x06); /* BUS_VIRTUAL */
	TEST_ASSERT_NE(u[2] | u[3] << 8, 0);
	TEST_ASSERT_EQ(cfg_select(t, VIRTIO_INPUT_CFG_PROP_BITS, 0), 0);

	TEST_ASSERT_EQ(cfg_select(t, VIRTIO_INPUT_CFG_EV_BITS, EV_KEY), 32);
	cfg_union(t, u);
	TEST_ASSERT(!bit(u, KEY_RESERVED), "KEY_RESERVED set");
	for (unsigned code = KEY_ESC; code <= KEY_MICMUTE; code++)
		TEST_ASSERT(bit(u, code), "key %u missing", code);
	for (unsigned i = 32; i < 128; i++)
		TEST_ASSERT_EQ(u[i], 0);
	/* Linux registers autorepeat when EV_REP has any size. */
	TEST_ASSERT_NE(cfg_select(t, VIRTIO_INPUT_CFG_EV_BITS, EV_REP), 0);
	TEST_ASSERT_EQ(cfg_select(t, VIRTIO_INPUT_CFG_EV_BITS, EV_LED), 1);
	TEST_ASSERT_EQ(bar4_read(&t->f, DEVCFG + 8, 1),
		       1 << LED_NUML | 1 << LED_CAPSL | 1 << LED_SCROLLL);
	TEST_ASSERT_EQ(cfg_select(t, VIRTIO_INPUT_CFG_EV_BITS, EV_ABS), 0);
	TEST_ASSERT_EQ(cfg_select(t, VIRTIO_INPUT_CFG_ABS_INFO, ABS_X), 0);
}

static void test_config_tablet(void **state)
{
	struct it *t = *state;
	uint8_t u[128];
	unsigned n = 0;

	TEST_ASSERT_EQ(cfg_select(t, VIRTIO_INPUT_CFG_ID_NAME, 0), strlen("hutch tablet"));
	cfg_union(t, u);
	TEST_ASSERT(!memcmp(u, "hutch tablet", 13), "name '%.*s'", 12, (char *)u);
	TEST_ASSERT_EQ(cfg_select(t, VIRTIO_INPUT_CFG_ID_DEVIDS, 0), 8);
	TEST_ASSERT_EQ(bar4_read(&t->f, DEVCFG + 8, 2), 0x06);
	/* Not INPUT_PROP_DIRECT: that would make it a touch screen. */
	TEST_ASSERT_EQ(cfg_select(t, VIRTIO_INPUT_CFG_PROP_BITS, 0), 0);

	TEST_ASSERT_EQ(cfg_select(t, VIRTIO_INPUT_CFG_EV_BITS, EV_KEY), BTN_EXTRA / 8 + 1);
	cfg_union(t, u);
	for (unsigned code = 0; code < 128 * 8; code++)
		n += bit(u, code);
	TEST_ASSERT_EQ(n, 5);
	TEST_ASSERT(bit(u, BTN_LEFT) && bit(u, BTN_RIGHT) && bit(u, BTN_MIDDLE) &&
			    bit(u, BTN_SIDE) && bit(u, BTN_EXTRA),
		    "a button is missing");
	TEST_ASSERT_EQ(cfg_select(t, VIRTIO_INPUT_CFG_EV_BITS, EV_ABS), 1);
	TEST_ASSERT_EQ(bar4_read(&t->f, DEVCFG + 8, 1), 1 << ABS_X | 1 << ABS_Y);
	TEST_ASSERT_EQ(cfg_select(t, VIRTIO_INPUT_CFG_EV_BITS, EV_REL), REL_WHEEL / 8 + 1);
	cfg_union(t, u);
	TEST_ASSERT(bit(u, REL_WHEEL) && !bit(u, REL_X) && !bit(u, REL_Y), "rel bits %#x %#x", u[0],
		    u[1]);
	TEST_ASSERT_EQ(cfg_select(t, VIRTIO_INPUT_CFG_EV_BITS, EV_LED), 0);
	TEST_ASSERT_EQ(cfg_select(t, VIRTIO_INPUT_CFG_EV_BITS, EV_REP), 0);

	for (uint8_t axis = ABS_X; axis <= ABS_Y; axis++) {
		TEST_ASSERT_EQ(cfg_select(t, VIRTIO_INPUT_CFG_ABS_INFO, axis), 20);
		TEST_ASSERT_EQ(bar4_read(&t->f, DEVCFG + 8, 4), 0);		   /* min */
		TEST_ASSERT_EQ(bar4_read(&t->f, DEVCFG + 12, 4), DISPLAY_ABS_MAX); /* max */
		TEST_ASSERT_EQ(bar4_read(&t->f, DEVCFG + 16, 4), 0);		   /* fuzz */
		TEST_ASSERT_EQ(bar4_read(&t->f, DEVCFG + 20, 4), 0);		   /* flat */
		TEST_ASSERT_EQ(bar4_read(&t->f, DEVCFG + 24, 4), 0);		   /* res */
	}
	TEST_ASSERT_EQ(cfg_select(t, VIRTIO_INPUT_CFG_ABS_INFO, ABS_Z), 0);
}

/* ---------------------------------------------------------- eventq ---- */

/* Hostile first: short and read-only buffers complete with 0; the event waits for a good one. */
static void test_bad_buffers_complete_empty(void **state)
{
	struct it *t = *state;
	struct virtio_input_event ev;
	uint16_t head;

	input_start(t);
	key(t, KEY_A, 1);
	settle(&t->f);				    /* nothing to deliver to yet */
	put_desc(t, EVENTQ, 0, EV_BUF(0), 4, W, 0); /* too short */
	avail_add(t, EVENTQ, 0);
	put_desc(t, EVENTQ, 1, EV_BUF(1), EV_SIZE, 0, 0); /* device-readable */
	avail_add(t, EVENTQ, 1);
	put_desc(t, EVENTQ, 2, 0xdead0000, EV_SIZE, W, 0); /* outside RAM */
	avail_add(t, EVENTQ, 2);
	/* a good one in two 4-byte pieces */
	put_desc(t, EVENTQ, 3, EV_BUF(3), 4, W | VIRTQ_DESC_F_NEXT, 4);
	put_desc(t, EVENTQ, 4, EV_BUF(3) + 12, 4, W, 0);
	avail_add(t, EVENTQ, 3);
	memset(gmem_ptr(&t->f.mem, EV_BUF(0), 64), 0xee, 64);
	kick(t, EVENTQ);

	for (uint16_t want = 0; want < 3; want++) {
		TEST_ASSERT_EQ(take_used(t, EVENTQ, &head), 0);
		TEST_ASSERT_EQ(head, want);
	}
	TEST_ASSERT_EQ(take_used(t, EVENTQ, &head), EV_SIZE);
	TEST_ASSERT_EQ(head, 3);
	memcpy(&ev, gmem_ptr(&t->f.mem, EV_BUF(3), 4), 4);
	memcpy((uint8_t *)&ev + 4, gmem_ptr(&t->f.mem, EV_BUF(3) + 12, 4), 4);
	TEST_ASSERT_EQ(le16toh(ev.type), EV_KEY);
	TEST_ASSERT_EQ(le16toh(ev.code), KEY_A);
	TEST_ASSERT_EQ(le32toh(ev.value), 1);
	TEST_ASSERT_EQ(*(uint8_t *)gmem_ptr(&t->f.mem, EV_BUF(0), 1), 0xee); /* untouched */
	TEST_ASSERT_EQ(*(uint8_t *)gmem_ptr(&t->f.mem, EV_BUF(1), 1), 0xee);
	expect_used_end(t, EVENTQ);
	TEST_ASSERT_EQ(status(&t->f) & S_NEEDS_RESET, 0);

	/* The SYN still waits; the next buffer gets it. */
	post_event_bufs(t, 1);
	kick(t, EVENTQ);
	expect_syn(t);
	expect_used_end(t, EVENTQ);
}

/* Input before DRIVER_OK, or after a reset, never reaches the guest. */
static void test_events_while_inactive_are_dropped(void **state)
{
	struct it *t = *state;

	key(t, KEY_B, 1);
	t->ops.event(t->ops.opaque, EV_KEY, KEY_B, 0); /* an open group, never synced */
	input_start(t);
	/* Pending at reset: gone, and nothing kept while reset. */
	key(t, KEY_C, 1);
	t->ops.event(t->ops.opaque, EV_KEY, KEY_C, 0);
	cc_write(&t->f, STATUS, 1, 0);
	key(t, KEY_D, 1);
	t->ops.sync(t->ops.opaque);
	input_start(t);
	post_event_bufs(t, 8);
	kick(t, EVENTQ);
	expect_used_end(t, EVENTQ);
	key(t, KEY_E, 1);
	settle(&t->f);
	expect_event(t, EV_KEY, KEY_E, 1);
	expect_syn(t);
	expect_used_end(t, EVENTQ);
}

/* Events wait for buffers, then arrive in order, as many as there are buffers. */
static void test_events_wait_for_buffers(void **state)
{
	struct it *t = *state;

	input_start(t);
	key(t, KEY_H, 1);
	key(t, KEY_H, 0);
	/* a group of several events, and a sync with nothing in it (ignored) */
	t->ops.event(t->ops.opaque, EV_KEY, KEY_LEFTSHIFT, 1);
	t->ops.event(t->ops.opaque, EV_KEY, KEY_I, 1);
	t->ops.sync(t->ops.opaque);
	t->ops.sync(t->ops.opaque);
	settle(&t->f);
	expect_used_end(t, EVENTQ);

	post_event_bufs(t, 3);
	kick(t, EVENTQ);
	expect_event(t, EV_KEY, KEY_H, 1);
	expect_syn(t);
	expect_event(t, EV_KEY, KEY_H, 0);
	expect_used_end(t, EVENTQ);
	post_event_bufs(t, 8);
	kick(t, EVENTQ);
	expect_syn(t);
	expect_event(t, EV_KEY, KEY_LEFTSHIFT, 1);
	expect_event(t, EV_KEY, KEY_I, 1);
	expect_syn(t);
	expect_used_end(t, EVENTQ);

	/* With buffers waiting, a sync alone wakes the device: no kick. */
	key(t, KEY_J, 1);
	settle(&t->f);
	expect_event(t, EV_KEY, KEY_J, 1);
	expect_syn(t);
	expect_used_end(t, EVENTQ);
}

/* The tablet's events go through as they came, negative values included. */
static void test_tablet_events(void **state)
{
	struct it *t = *state;

	input_start(t);
	post_event_bufs(t, 8);
	kick(t, EVENTQ);
	t->ops.event(t->ops.opaque, EV_ABS, ABS_X, DISPLAY_ABS_MAX);
	t->ops.event(t->ops.opaque, EV_ABS, ABS_Y, 0);
	t->ops.event(t->ops.opaque, EV_KEY, BTN_LEFT, 1);
	t->ops.event(t->ops.opaque, EV_REL, REL_WHEEL, -3);
	t->ops.event(t->ops.opaque, EV_SYN, SYN_REPORT, 0); /* as good as sync() */
	settle(&t->f);
	expect_event(t, EV_ABS, ABS_X, DISPLAY_ABS_MAX);
	expect_event(t, EV_ABS, ABS_Y, 0);
	expect_event(t, EV_KEY, BTN_LEFT, 1);
	expect_event(t, EV_REL, REL_WHEEL, -3);
	expect_syn(t);
	expect_used_end(t, EVENTQ);
}

/*
 * With no buffers, the backlog stops at its bound: later groups are dropped
 * whole. room() tells how much still fits (what send-key waits on).
 */
static void test_overflow_drops_whole_groups(void **state)
{
	struct it *t = *state;
	const unsigned fit = VIRTIO_INPUT_PENDING_MAX / 2; /* groups of a key and a SYN */

	TEST_ASSERT_EQ(t->ops.room(t->ops.opaque), UINT_MAX); /* not listening: no limit */
	input_start(t);
	TEST_ASSERT_EQ(t->ops.room(t->ops.opaque), VIRTIO_INPUT_PENDING_MAX);
	key(t, KEY_A, 1);
	TEST_ASSERT_EQ(t->ops.room(t->ops.opaque), VIRTIO_INPUT_PENDING_MAX - 2);
	for (unsigned g = 1; g < fit + 50; g++)
		key(t, (uint16_t)(1 + g % 200), (int32_t)g);
	TEST_ASSERT_EQ(t->ops.room(t->ops.opaque), 0);
	/* a group larger than the whole backlog */
	for (unsigned i = 0; i < VIRTIO_INPUT_PENDING_MAX + 10; i++)
		t->ops.event(t->ops.opaque, EV_KEY, KEY_X, 1);
	t->ops.sync(t->ops.opaque);
	settle(&t->f);
	pthread_mutex_lock(&t->in.events_lock);
	TEST_ASSERT_EQ(t->in.dropped_groups, 51);
	TEST_ASSERT_EQ(t->in.pending_ready, VIRTIO_INPUT_PENDING_MAX);
	TEST_ASSERT_EQ(t->in.pending_open, 0);
	pthread_mutex_unlock(&t->in.events_lock);

	/* Drained a queue at a time: the first groups, whole and in order. */
	for (unsigned g = 0; g < fit; g++) {
		uint16_t code = g ? (uint16_t)(1 + g % 200) : KEY_A;

		if (g % (QSIZE / 2) == 0) {
			post_event_bufs(t, QSIZE);
			kick(t, EVENTQ);
		}
		expect_event(t, EV_KEY, code, (int32_t)(g ? g : 1));
		expect_syn(t);
	}
	expect_used_end(t, EVENTQ);
	TEST_ASSERT_EQ(t->ops.room(t->ops.opaque), VIRTIO_INPUT_PENDING_MAX);

	/* Room again: new groups go through. */
	post_event_bufs(t, 2);
	kick(t, EVENTQ);
	key(t, KEY_Y, 1);
	settle(&t->f);
	expect_event(t, EV_KEY, KEY_Y, 1);
	expect_syn(t);
	expect_used_end(t, EVENTQ);
	TEST_ASSERT_EQ(status(&t->f) & S_NEEDS_RESET, 0);
}

struct hammer {
	struct it *t;
	unsigned groups;
	pthread_mutex_t lock; /* one group at a time, as struct display's lock makes it */
	atomic_uint done;
};

static void *hammer_thread(void *opaque)
{
	struct hammer *h = opaque;

	for (unsigned g = 0; g < h->groups; g++) {
		pthread_mutex_lock(&h->lock);
		h->t->ops.event(h->t->ops.opaque, EV_KEY, KEY_K, (int32_t)(g & 1));
		h->t->ops.event(h->t->ops.opaque, EV_KEY, KEY_L, (int32_t)(g & 1));
		h->t->ops.sync(h->t->ops.opaque);
		pthread_mutex_unlock(&h->lock);
	}
	atomic_fetch_add(&h->done, 1);
	return NULL;
}

/* Two front-end threads at once while the driver takes events: groups stay whole. */
static void test_concurrent_front_ends(void **state)
{
	struct it *t = *state;
	struct hammer h = { .t = t, .groups = 500 };
	pthread_t threads[2];
	unsigned seen = 0, in_group = 0;

	pthread_mutex_init(&h.lock, NULL);
	input_start(t);
	for (unsigned i = 0; i < 2; i++)
		TEST_ASSERT_EQ(pthread_create(&threads[i], NULL, hammer_thread, &h), 0);
	for (unsigned round = 0; round < 5000; round++) {
		unsigned done = atomic_load(&h.done);

		if ((uint16_t)(t->avail_idx[EVENTQ] - t->used_seen[EVENTQ]) <= QSIZE / 2)
			post_event_bufs(t, QSIZE / 2);
		kick(t, EVENTQ);
		while (used_idx(t, EVENTQ) != t->used_seen[EVENTQ]) {
			struct virtio_input_event ev;
			uint16_t head;

			TEST_ASSERT_EQ(take_used(t, EVENTQ, &head), EV_SIZE);
			TEST_ASSERT_EQ(gmem_read(&t->f.mem, &ev, EV_BUF(head), sizeof(ev)), 0);
			seen++;
			if (le16toh(ev.type) == EV_SYN) {
				TEST_ASSERT_EQ(in_group, 2);
				in_group = 0;
			} else {
				TEST_ASSERT_EQ(le16toh(ev.code), in_group ? KEY_L : KEY_K);
				in_group++;
			}
		}
		/* the front ends were done before the kick, which left buffers over */
		if (done == 2 && t->avail_idx[EVENTQ] != t->used_seen[EVENTQ])
			break;
	}
	for (unsigned i = 0; i < 2; i++)
		pthread_join(threads[i], NULL);
	TEST_ASSERT(seen > 0, "no events");
	TEST_ASSERT_EQ(seen % 3, 0);
	pthread_mutex_lock(&t->in.events_lock);
	TEST_ASSERT_EQ(t->in.pending_ready, 0);
	TEST_ASSERT_EQ(seen / 3 + t->in.dropped_groups, 2 * h.groups);
	pthread_mutex_unlock(&t->in.events_lock);
}

/* --------------------------------------------------------- statusq ---- */

static void test_statusq_completes(void **state)
{
	struct it *t = *state;
	const struct virtio_input_event caps_on = { htole16(EV_LED), htole16(LED_CAPSL),
						    htole32(1) };
	const struct virtio_input_event num_on = { htole16(EV_LED), htole16(LED_NUML), htole32(1) };
	const struct virtio_input_event caps_off = { htole16(EV_LED), htole16(LED_CAPSL), 0 };
	const struct virtio_input_event odd = { htole16(EV_LED), htole16(200), htole32(1) };
	const struct virtio_input_event *evs[] = { &caps_on, &num_on, &caps_off, &odd };
	uint16_t head;

	input_start(t);
	for (uint16_t i = 0; i < ARRAY_LEN(evs); i++) {
		TEST_ASSERT_EQ(gmem_write(&t->f.mem, ST_BUF(i), evs[i], EV_SIZE), 0);
		put_desc(t, STATUSQ, i, ST_BUF(i), EV_SIZE, 0, 0);
		avail_add(t, STATUSQ, i);
		if (i == 1) {
			kick(t, STATUSQ);
			TEST_ASSERT_EQ(atomic_load(&t->in.leds), 1 << LED_NUML | 1 << LED_CAPSL);
		}
	}
	/* hostile: short, device-writable, outside RAM */
	put_desc(t, STATUSQ, 4, ST_BUF(4), 4, 0, 0);
	avail_add(t, STATUSQ, 4);
	put_desc(t, STATUSQ, 5, ST_BUF(5), EV_SIZE, W, 0);
	avail_add(t, STATUSQ, 5);
	put_desc(t, STATUSQ, 6, 0xdead0000, EV_SIZE, 0, 0);
	avail_add(t, STATUSQ, 6);
	kick(t, STATUSQ);

	for (uint16_t i = 0; i < 7; i++) {
		TEST_ASSERT_EQ(take_used(t, STATUSQ, &head), 0);
		TEST_ASSERT_EQ(head, i);
	}
	expect_used_end(t, STATUSQ);
	TEST_ASSERT_EQ(atomic_load(&t->in.leds), 1 << LED_NUML);
	TEST_ASSERT_EQ(atomic_load(&t->in.status_events), 4);
	TEST_ASSERT_EQ(status(&t->f) & S_NEEDS_RESET, 0);
	/* A reset forgets the LEDs. */
	cc_write(&t->f, STATUS, 1, 0);
	TEST_ASSERT_EQ(atomic_load(&t->in.leds), 0);
}

int main(void)
{
#define KBD(fn) cmocka_unit_test_setup_teardown(fn, setup_keyboard, teardown_input)
#define TAB(fn) cmocka_unit_test_setup_teardown(fn, setup_tablet, teardown_input)
	const struct CMUnitTest tests[] = {
		KBD(test_config_bogus_selects),
		TAB(test_config_bogus_selects),
		KBD(test_config_keyboard),
		TAB(test_config_tablet),
		KBD(test_bad_buffers_complete_empty),
		KBD(test_events_while_inactive_are_dropped),
		KBD(test_events_wait_for_buffers),
		TAB(test_tablet_events),
		KBD(test_overflow_drops_whole_groups),
		KBD(test_concurrent_front_ends),
		KBD(test_statusq_completes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
