/*
 * Unit tests for devices/virtio/net.c: a real virtio-net device over the PCI
 * transport, a fake network backend (push model like slirp, pull model like
 * TAP), and the test playing the guest's driver.
 */
#include "virtio_driver.h"

#include <pthread.h>
#include <sys/eventfd.h>

#include "devices/virtio/net.h"

/* A third RAM region, for 64 KiB frames and receive buffers. */
#define C_GPA 0x100000ULL
#define CSZ   0x40000ULL

#define RXQ   0
#define TXQ   1
#define QSIZE VIRTIO_NET_QUEUE_SIZE
#define HDR   NET_VNET_HDR_SIZE
#define W     VIRTQ_DESC_F_WRITE

/* virtio 1.2 §5.1.3: feature bits. */
#define F_CSUM	     (1ULL << 0)
#define F_GUEST_CSUM (1ULL << 1)
#define F_GUEST_TSO4 (1ULL << 7)
#define F_HOST_TSO4  (1ULL << 11)
#define F_MRG_RXBUF  (1ULL << 15)
#define F_INDIRECT   (1ULL << VIRTIO_F_INDIRECT_DESC)
#define F_BASE	     (F_VERSION_1 | F_MRG_RXBUF | F_INDIRECT)

/* virtio 1.2 §5.1.6: header flags and GSO types. */
#define NEEDS_CSUM 1
#define DATA_VALID 2
#define GSO_TCPV4  1
#define GSO_UDP	   3
#define GSO_TCPV6  4
#define GSO_ECN	   0x80

#define FB_QUEUE 8

/* ------------------------------------------------- the fake backend ---- */

struct fake_be {
	struct net_backend be;
	int send_ret;	   /* what send() returns */
	bool echo;	   /* send() hands the frame straight back, as slirp may */
	uint8_t *scribble; /* send() overwrites HDR bytes here first (a racing guest) */
	unsigned attaches, detaches, sends, recvs, offloads;
	size_t sent_len, recv_cap;
	uint8_t sent[HDR + NET_MAX_FRAME + 64]; /* the last frame send() got */
	/* pull model: frames for recv(), one eventfd count each */
	pthread_mutex_t lock;
	uint8_t *queue[FB_QUEUE];
	size_t queue_len[FB_QUEUE];
	unsigned qhead, qlen;
};

static int fb_attach(struct net_backend *be, struct evloop *loop)
{
	(void)loop;
	((struct fake_be *)be)->attaches++;
	return 0;
}

static void fb_detach(struct net_backend *be)
{
	((struct fake_be *)be)->detaches++;
}

static int fb_send(struct net_backend *be, const struct iovec *iov, unsigned iovcnt)
{
	struct fake_be *fb = (struct fake_be *)be;
	size_t len = 0;

	if (fb->scribble) {
		memset(fb->scribble, 0xff, HDR);
		fb->scribble = NULL;
	}
	for (unsigned i = 0; i < iovcnt; i++) {
		TEST_ASSERT(len + iov[i].iov_len <= sizeof(fb->sent), "frame of %zu+ bytes",
			    len + iov[i].iov_len);
		memcpy(fb->sent + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	fb->sent_len = len;
	fb->sends++;
	if (fb->echo)
		be->rx(be->rx_opaque, fb->sent, len);
	return fb->send_ret;
}

static ssize_t fb_recv(struct net_backend *be, const struct iovec *iov, unsigned iovcnt)
{
	struct fake_be *fb = (struct fake_be *)be;
	size_t cap = 0, done = 0, len;
	uint64_t n;
	uint8_t *frame;

	for (unsigned i = 0; i < iovcnt; i++)
		cap += iov[i].iov_len;
	pthread_mutex_lock(&fb->lock);
	if (read(be->rx_fd, &n, sizeof(n)) != sizeof(n) || !fb->qlen) {
		pthread_mutex_unlock(&fb->lock);
		return -EAGAIN;
	}
	frame = fb->queue[fb->qhead];
	len = fb->queue_len[fb->qhead];
	fb->qhead = (fb->qhead + 1) % FB_QUEUE;
	fb->qlen--;
	fb->recvs++;
	fb->recv_cap = cap;
	pthread_mutex_unlock(&fb->lock);
	/* Like a TAP read: what does not fit is lost. */
	for (unsigned i = 0; i < iovcnt && done < len; i++) {
		size_t k = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;

		memcpy(iov[i].iov_base, frame + done, k);
		done += k;
	}
	free(frame);
	return (ssize_t)done;
}

static int fb_set_offload(struct net_backend *be, unsigned offloads)
{
	((struct fake_be *)be)->offloads = offloads;
	return 0;
}

static const struct net_backend_ops fb_ops = {
	.name = "fake",
	.attach = fb_attach,
	.detach = fb_detach,
	.send = fb_send,
	.recv = fb_recv,
	.set_offload = fb_set_offload,
};

/* Queues a frame for recv() (bytes as the backend reads them, header included if vnet_hdr). */
static void fb_queue(struct fake_be *fb, const void *data, size_t len)
{
	uint64_t one = 1;
	uint8_t *copy = malloc(len);

	TEST_ASSERT(copy && fb->qlen < FB_QUEUE, "queue full");
	memcpy(copy, data, len);
	pthread_mutex_lock(&fb->lock);
	fb->queue[(fb->qhead + fb->qlen) % FB_QUEUE] = copy;
	fb->queue_len[(fb->qhead + fb->qlen) % FB_QUEUE] = len;
	fb->qlen++;
	pthread_mutex_unlock(&fb->lock);
	TEST_ASSERT_EQ(write(fb->be.rx_fd, &one, sizeof(one)), sizeof(one));
}

/* ------------------------------------------------------ the fixture ---- */

struct nf {
	struct fixture f;
	struct fake_be fb;
	struct virtio_net net;
	uint8_t *c;
	uint8_t push[NET_MAX_FRAME + 1]; /* the frame push_frame() hands over */
	size_t push_len;
	uint16_t next_desc[2], avail_idx[2], used_seen[2]; /* the driver's view */
};

static int setup_net(void **state, bool pull, bool vnet_hdr)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct nf *t = calloc(1, sizeof(*t));

	if (!t || !(t->c = calloc(1, CSZ)))
		return -1;
	t->fb.be = (struct net_backend){ .ops = &fb_ops, .vnet_hdr = vnet_hdr, .rx_fd = -1 };
	pthread_mutex_init(&t->fb.lock, NULL);
	if (pull && (t->fb.be.rx_fd = eventfd(0, EFD_NONBLOCK | EFD_SEMAPHORE | EFD_CLOEXEC)) < 0)
		return -1;
	if (virtio_net_init(&t->net, &t->fb.be, mac) || fixture_init(&t->f, &t->net.vdev) ||
	    gmem_add_region(&t->f.mem, C_GPA, CSZ, t->c))
		return -1;
	*state = t;
	return 0;
}

#define SETUP(name, pull, vnet_hdr)                      \
	static int name(void **state)                    \
	{                                                \
		return setup_net(state, pull, vnet_hdr); \
	}
SETUP(setup_push, false, false)
SETUP(setup_pull, true, false)
SETUP(setup_pull_vnet, true, true)

static int teardown_net(void **state)
{
	struct nf *t = *state;

	fixture_fini(&t->f); /* resets an active device: frees its backlog */
	while (t->fb.qlen--) {
		free(t->fb.queue[t->fb.qhead]);
		t->fb.qhead = (t->fb.qhead + 1) % FB_QUEUE;
	}
	if (t->fb.be.rx_fd >= 0)
		close(t->fb.be.rx_fd);
	free(t->c);
	free(t);
	return 0;
}

/* ------------------------------------------------------- the driver ---- */

struct buf {
	uint64_t gpa;
	uint32_t len;
	uint16_t flags;
};

static uint8_t *hva(struct nf *t, uint64_t gpa, size_t len)
{
	uint8_t *p = gmem_ptr(&t->f.mem, gpa, len);

	TEST_ASSERT(p, "%#llx+%zu not in RAM", (unsigned long long)gpa, len);
	return p;
}

static void pattern(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

/* Whether p holds pattern(n, seed). */
static bool is_pattern(const uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != (uint8_t)(seed * 31 + i * 7 + (i >> 8)))
			return false;
	}
	return true;
}

static void put_hdr(struct nf *t, uint64_t gpa, uint8_t flags, uint8_t gso_type)
{
	struct net_vnet_hdr h = { .flags = flags, .gso_type = gso_type };

	memcpy(hva(t, gpa, HDR), &h, HDR);
}

/* Negotiates features, sets up both queues over zeroed rings, sets DRIVER_OK. */
static void net_start(struct nf *t, uint64_t features)
{
	struct fixture *f = &t->f;

	TEST_ASSERT(negotiate(f, features), "FEATURES_OK refused for %#llx",
		    (unsigned long long)features);
	memset(hva(t, ring_gpa(0, 0), 0x8000), 0, 0x8000);
	cc_write(f, MSIX_CFG, 2, 0);
	for (unsigned q = 0; q < 2; q++) {
		setup_queue_at(f, q, ring_gpa(q, 0), ring_gpa(q, 1), ring_gpa(q, 2));
		t->next_desc[q] = t->avail_idx[q] = t->used_seen[q] = 0;
	}
	add_status(f, S_DRIVER_OK);
	TEST_ASSERT_EQ(status(f), S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
}

static void put_desc(struct nf *t, unsigned q, uint16_t i, uint64_t gpa, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { htole64(gpa), htole32(len), htole16(flags), htole16(next) };

	TEST_ASSERT_EQ(gmem_write(&t->f.mem, ring_gpa(q, 0) + 16ULL * i, &d, sizeof(d)), 0);
}

/* An indirect table at gpa: n entries, each but the last chained to the next. */
static void put_table(struct nf *t, uint64_t gpa, const struct buf *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct virtq_desc d = { htole64(b[i].gpa), htole32(b[i].len),
					htole16(b[i].flags | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
					htole16(i + 1) };

		memcpy(hva(t, gpa + 16ULL * i, 16), &d, 16);
	}
}

static uint16_t take_desc(struct nf *t, unsigned q, unsigned n)
{
	uint16_t i = t->next_desc[q];

	t->next_desc[q] = (uint16_t)((i + n) % QSIZE);
	return i;
}

static void avail_add(struct nf *t, unsigned q, uint16_t head)
{
	put16(&t->f, ring_gpa(q, 1) + 4 + 2 * (t->avail_idx[q] % QSIZE), head);
	put16(&t->f, ring_gpa(q, 1) + 2, ++t->avail_idx[q]);
}

/* n buffers as one chain of fresh descriptors, made available; its head. */
static uint16_t add_chain(struct nf *t, unsigned q, const struct buf *b, unsigned n)
{
	uint16_t head = take_desc(t, q, n);

	for (unsigned i = 0; i < n; i++)
		put_desc(t, q, (uint16_t)((head + i) % QSIZE), b[i].gpa, b[i].len,
			 (uint16_t)(b[i].flags | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			 (uint16_t)((head + i + 1) % QSIZE));
	avail_add(t, q, head);
	return head;
}

/* A descriptor pointing to an indirect table of len bytes, made available; its head. */
static uint16_t add_indirect(struct nf *t, unsigned q, uint64_t table, uint32_t len)
{
	uint16_t head = take_desc(t, q, 1);

	put_desc(t, q, head, table, len, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(t, q, head);
	return head;
}

static uint16_t add_buf(struct nf *t, unsigned q, uint64_t gpa, uint32_t len, uint16_t flags)
{
	const struct buf b = { gpa, len, flags };

	return add_chain(t, q, &b, 1);
}

/* Notifies queue q and waits until the I/O thread handled it. */
static void kick(struct nf *t, unsigned q)
{
	notify(&t->f, q);
	settle(&t->f);
}

/* The next used entry is (head, len): each head exactly once, in order. */
static void expect_used(struct nf *t, unsigned q, uint16_t head, uint32_t len)
{
	uint16_t i = t->used_seen[q]++;
	uint32_t e[2];

	TEST_ASSERT(get16(&t->f, ring_gpa(q, 2) + 2) != i, "queue %u: no used entry %u", q, i);
	TEST_ASSERT_EQ(gmem_read(&t->f.mem, e, ring_gpa(q, 2) + 4 + 8ULL * (i % QSIZE), 8), 0);
	TEST_ASSERT(le32toh(e[0]) == head && le32toh(e[1]) == len,
		    "queue %u: used[%u] is (%u, %u), expected (%u, %u)", q, i, le32toh(e[0]),
		    le32toh(e[1]), head, len);
}

/* Nothing completed beyond what expect_used() saw. */
static void expect_used_end(struct nf *t, unsigned q)
{
	TEST_ASSERT_EQ(get16(&t->f, ring_gpa(q, 2) + 2), t->used_seen[q]);
}

static void push_on_thread(void *opaque)
{
	struct nf *t = opaque;

	t->fb.be.rx(t->fb.be.rx_opaque, t->push, t->push_len);
}

/* A push backend's frame for the guest, on the I/O thread as slirp delivers them. */
static void push_frame(struct nf *t, size_t len, unsigned seed)
{
	TEST_ASSERT(len <= sizeof(t->push) && t->fb.be.rx, "no rx callback");
	pattern(t->push, len, seed);
	t->push_len = len;
	evloop_call(t->f.vp.vdev->loop, push_on_thread, t);
}

/* A received frame in one buffer: zero header but num_buffers, then the frame. */
static void expect_rx_frame(struct nf *t, uint64_t gpa, uint16_t num_buffers, size_t len,
			    unsigned seed)
{
	static const uint8_t zero[10]; /* struct net_vnet_hdr up to num_buffers */
	uint8_t *p = hva(t, gpa, HDR + len);

	TEST_ASSERT(!memcmp(p, zero, sizeof(zero)), "header not zeroed at %#llx",
		    (unsigned long long)gpa);
	TEST_ASSERT_EQ(p[10] | p[11] << 8, num_buffers);
	TEST_ASSERT(is_pattern(p + HDR, len, seed), "frame %u corrupt", seed);
}

/* ------------------------------------------- transmit: hostile first ---- */

/* Every malformed chain is dropped, counted, completed; the good one after them goes out. */
static void test_tx_malformed_chains_are_dropped(void **state)
{
	struct nf *t = *state;
	static const uint8_t bad_hdr[][2] = {
		{ NEEDS_CSUM, 0 }, { 0, GSO_TCPV4 }, { 0, GSO_UDP },
		{ 0, GSO_ECN },	   { 0, GSO_TCPV6 },
	};
	const struct buf writable[] = { { B_GPA, 72, 0 }, { B_GPA + 0x8000, 16, W } };
	const struct buf outside[] = { { B_GPA, 30, 0 }, { 0xdead0000, 42, 0 } };
	const struct buf nested[] = { { B_GPA, 30, 0 },
				      { A_GPA + 0x8000, 32, VIRTQ_DESC_F_INDIRECT } };
	const uint64_t table[] = { A_GPA + 0x8000, A_GPA + 0x8100, A_GPA + 0x8000 };
	const uint32_t table_len[] = { 32, 32, 24 }; /* 24: not a multiple of 16 */
	struct buf split[13];			     /* a NEEDS_CSUM header in 1-byte pieces */
	uint16_t heads[16], good, d;
	unsigned n = 0;

	/* A backend without vnet_hdr offers no offloads at all. */
	TEST_ASSERT(!negotiate(&t->f, F_BASE | F_CSUM), "CSUM accepted");
	TEST_ASSERT(!negotiate(&t->f, F_BASE | F_HOST_TSO4), "HOST_TSO4 accepted");
	net_start(t, F_BASE);
	pattern(hva(t, B_GPA + HDR, 60), 60, 1); /* after a zero header */
	heads[n++] = add_chain(t, TXQ, writable, 2);
	heads[n++] = add_buf(t, TXQ, B_GPA, 10, 0);			 /* header cut short */
	heads[n++] = add_buf(t, TXQ, B_GPA, HDR + 13, 0);		 /* 13-byte frame */
	heads[n++] = add_buf(t, TXQ, C_GPA, HDR + NET_MAX_FRAME + 1, 0); /* too long */
	for (unsigned i = 0; i < ARRAY_LEN(bad_hdr); i++) {
		put_hdr(t, B_GPA + 0x1000 * (i + 1), bad_hdr[i][0], bad_hdr[i][1]);
		heads[n++] = add_buf(t, TXQ, B_GPA + 0x1000 * (i + 1), 72, 0);
	}
	d = take_desc(t, TXQ, 2); /* a loop of two */
	put_desc(t, TXQ, d, B_GPA, 40, VIRTQ_DESC_F_NEXT, d + 1);
	put_desc(t, TXQ, d + 1, B_GPA + 40, 40, VIRTQ_DESC_F_NEXT, d);
	avail_add(t, TXQ, heads[n++] = d);
	d = take_desc(t, TXQ, 1); /* next past the queue */
	put_desc(t, TXQ, d, B_GPA, 72, VIRTQ_DESC_F_NEXT, QSIZE);
	avail_add(t, TXQ, heads[n++] = d);
	put_table(t, table[0], outside, 2); /* a buffer outside RAM */
	put_table(t, table[1], nested, 2);
	for (unsigned i = 0; i < 3; i++)
		heads[n++] = add_indirect(t, TXQ, table[i], table_len[i]);
	for (unsigned i = 0; i < HDR; i++)
		split[i] = (struct buf){ B_GPA + 0x1000 + i, 1, 0 };
	split[HDR] = (struct buf){ B_GPA + 0x1000 + HDR, 60, 0 };
	heads[n++] = add_chain(t, TXQ, split, 13);
	good = add_buf(t, TXQ, B_GPA, HDR + 60, 0);
	kick(t, TXQ);

	TEST_ASSERT_EQ(t->fb.sends, 1);
	TEST_ASSERT_EQ(t->fb.sent_len, 60);
	TEST_ASSERT(is_pattern(t->fb.sent, 60, 1), "frame bytes");
	TEST_ASSERT_EQ(t->net.tx_malformed, n);
	TEST_ASSERT_EQ(t->fb.be.tx_frames, 1);
	for (unsigned i = 0; i < n; i++)
		expect_used(t, TXQ, heads[i], 0);
	expect_used(t, TXQ, good, 0);
	expect_used_end(t, TXQ);
	TEST_ASSERT_EQ(status(&t->f) & S_NEEDS_RESET, 0);
	TEST_ASSERT_EQ(*hva(t, B_GPA + 0x8000, 1), 0); /* the writable buffer untouched */

	/* A bad ring: the device needs a reset and sends nothing more. */
	put16(&t->f, ring_gpa(TXQ, 1) + 2, (uint16_t)(t->avail_idx[TXQ] + QSIZE + 1));
	kick(t, TXQ);
	TEST_ASSERT_EQ(status(&t->f) & S_NEEDS_RESET, S_NEEDS_RESET);
	TEST_ASSERT_EQ(t->fb.sends, 1);
	expect_used_end(t, TXQ);
}

/* Offloads pass only as negotiated; the header is checked and sent as one host copy. */
static void test_tx_header_is_copied_and_checked(void **state)
{
	struct nf *t = *state;
	const struct net_vnet_hdr tso = { NEEDS_CSUM,  GSO_TCPV4,   htole16(54),    htole16(1448),
					  htole16(34), htole16(16), htole16(0x1234) };
	struct net_vnet_hdr want = tso, csum = { .flags = NEEDS_CSUM, .csum_start = htole16(14) };
	struct buf split[15];
	uint16_t head;

	net_start(t, F_BASE | F_CSUM | F_HOST_TSO4);
	/* A TSO header in twelve 1-byte buffers, the frame in three. */
	memcpy(hva(t, B_GPA, HDR), &tso, HDR);
	pattern(hva(t, B_GPA + 0x100, 100), 100, 2);
	for (unsigned i = 0; i < HDR; i++)
		split[i] = (struct buf){ B_GPA + i, 1, 0 };
	split[12] = (struct buf){ B_GPA + 0x100, 30, 0 };
	split[13] = (struct buf){ B_GPA + 0x100 + 30, 40, 0 };
	split[14] = (struct buf){ B_GPA + 0x100 + 70, 30, 0 };
	head = add_chain(t, TXQ, split, 15);
	kick(t, TXQ);
	expect_used(t, TXQ, head, 0);
	TEST_ASSERT_EQ(t->fb.sends, 1);
	TEST_ASSERT_EQ(t->fb.sent_len, HDR + 100);
	want.num_buffers = 0; /* the device's field */
	TEST_ASSERT(!memcmp(t->fb.sent, &want, HDR), "header not passed through");
	TEST_ASSERT(is_pattern(t->fb.sent + HDR, 100, 2), "frame bytes");

	/* The guest rewrites the header while the backend sends: the backend
	 * still has what was checked. */
	memcpy(hva(t, B_GPA + 0x1000, HDR), &csum, HDR);
	pattern(hva(t, B_GPA + 0x1000 + HDR, 60), 60, 3);
	t->fb.scribble = hva(t, B_GPA + 0x1000, HDR);
	head = add_buf(t, TXQ, B_GPA + 0x1000, HDR + 60, 0);
	kick(t, TXQ);
	expect_used(t, TXQ, head, 0);
	TEST_ASSERT_EQ(t->fb.sends, 2);
	TEST_ASSERT_EQ(*hva(t, B_GPA + 0x1000, 1), 0xff);
	TEST_ASSERT(!memcmp(t->fb.sent, &csum, HDR), "header changed under the backend");
	TEST_ASSERT(is_pattern(t->fb.sent + HDR, 60, 3), "frame bytes");

	/* TSO6 and ECN were not negotiated; UDP fragmentation is no virtio 1.x type. */
	put_hdr(t, B_GPA + 0x2000, NEEDS_CSUM, GSO_TCPV6);
	put_hdr(t, B_GPA + 0x3000, NEEDS_CSUM, GSO_TCPV4 | GSO_ECN);
	put_hdr(t, B_GPA + 0x4000, NEEDS_CSUM, GSO_UDP);
	for (unsigned i = 0; i < 3; i++) {
		head = add_buf(t, TXQ, B_GPA + 0x2000 + 0x1000 * i, HDR + 60, 0);
		kick(t, TXQ);
		expect_used(t, TXQ, head, 0);
	}
	TEST_ASSERT_EQ(t->fb.sends, 2);
	TEST_ASSERT_EQ(t->net.tx_malformed, 3);
	expect_used_end(t, TXQ);
}

/* Exactly the frame bytes reach send(), at both size limits and across 1023 buffers. */
static void test_tx_good_frames_reach_the_backend(void **state)
{
	struct nf *t = *state;
	const uint64_t table = C_GPA + 0x20000, data = C_GPA + 0x30000;
	struct buf *b = calloc(VIRTQ_MAX_IOV, sizeof(*b));
	uint16_t head;

	TEST_ASSERT(b, "calloc");
	net_start(t, F_BASE);
	pattern(hva(t, B_GPA + HDR, 14), 14, 3);
	head = add_buf(t, TXQ, B_GPA, HDR + 14, 0);
	kick(t, TXQ);
	expect_used(t, TXQ, head, 0);
	TEST_ASSERT_EQ(t->fb.sent_len, 14);
	TEST_ASSERT(is_pattern(t->fb.sent, 14, 3), "frame bytes");

	pattern(hva(t, C_GPA + HDR, NET_MAX_FRAME), NET_MAX_FRAME, 4);
	head = add_buf(t, TXQ, C_GPA, HDR + NET_MAX_FRAME, 0);
	kick(t, TXQ);
	expect_used(t, TXQ, head, 0);
	TEST_ASSERT_EQ(t->fb.sent_len, NET_MAX_FRAME);
	TEST_ASSERT(is_pattern(t->fb.sent, NET_MAX_FRAME, 4), "frame bytes");
	TEST_ASSERT_EQ(t->fb.be.tx_frames, 2);

	/* The backend refuses: counted, and the chain completes anyway. */
	t->fb.send_ret = -ENOBUFS;
	head = add_buf(t, TXQ, B_GPA, HDR + 14, 0);
	kick(t, TXQ);
	expect_used(t, TXQ, head, 0);
	TEST_ASSERT_EQ(t->fb.be.tx_dropped, 1);
	TEST_ASSERT_EQ(t->fb.be.tx_frames, 2);
	t->fb.send_ret = 0;

	/* The header alone, then 1023 one-byte buffers: all of them are sent. */
	memset(hva(t, data, HDR + 20), 0, HDR + 20);
	pattern(hva(t, data + 0x100, VIRTQ_MAX_IOV - 1), VIRTQ_MAX_IOV - 1, 5);
	b[0] = (struct buf){ data, HDR, 0 };
	for (unsigned i = 1; i < VIRTQ_MAX_IOV; i++)
		b[i] = (struct buf){ data + 0x100 + i - 1, 1, 0 };
	put_table(t, table, b, VIRTQ_MAX_IOV);
	head = add_indirect(t, TXQ, table, 16 * VIRTQ_MAX_IOV);
	kick(t, TXQ);
	expect_used(t, TXQ, head, 0);
	TEST_ASSERT_EQ(t->fb.sends, 4);
	TEST_ASSERT_EQ(t->fb.sent_len, VIRTQ_MAX_IOV - 1);
	TEST_ASSERT(is_pattern(t->fb.sent, VIRTQ_MAX_IOV - 1, 5), "frame bytes");

	/* Header and 20 frame bytes in the first: the frame needs 1024 iovecs
	 * behind the header copy. Dropped, not sent truncated. */
	b[0].len = HDR + 20;
	put_table(t, table, b, VIRTQ_MAX_IOV);
	head = add_indirect(t, TXQ, table, 16 * VIRTQ_MAX_IOV);
	kick(t, TXQ);
	expect_used(t, TXQ, head, 0);
	TEST_ASSERT_EQ(t->fb.sends, 4);
	TEST_ASSERT_EQ(t->net.tx_malformed, 1);
	expect_used_end(t, TXQ);
	free(b);
}

/* ------------------------------------------------ receive: push model ---- */

static void test_rx_push_one_big_buffer(void **state)
{
	struct nf *t = *state;
	uint16_t head, tx;

	enable_msix(&t->f);
	net_start(t, F_BASE);
	TEST_ASSERT_EQ(bar4_read(&t->f, DEVCFG, 4), 0x12005452); /* the MAC */
	TEST_ASSERT_EQ(bar4_read(&t->f, DEVCFG + 6, 2), 1);	 /* VIRTIO_NET_S_LINK_UP */
	memset(hva(t, B_GPA, 2048), 0xaa, 2048);
	head = add_buf(t, RXQ, B_GPA, 2048, W);
	kick(t, RXQ);
	expect_used_end(t, RXQ);
	push_frame(t, 100, 7);
	expect_used(t, RXQ, head, HDR + 100);
	expect_used_end(t, RXQ);
	expect_rx_frame(t, B_GPA, 1, 100, 7);
	TEST_ASSERT_EQ(*hva(t, B_GPA + HDR + 100, 1), 0xaa);
	TEST_ASSERT_EQ(t->fb.be.rx_frames, 1);
	TEST_ASSERT_EQ(eventfd_wait(t->f.vp.msix.vec[1].fd, WAIT_MS), 1);

	/* slirp may answer inside send(): the reply lands in a receive buffer at once. */
	t->fb.echo = true;
	head = add_buf(t, RXQ, B_GPA + 0x8000, 2048, W);
	pattern(hva(t, B_GPA + 0x4000 + HDR, 60), 60, 6);
	tx = add_buf(t, TXQ, B_GPA + 0x4000, HDR + 60, 0);
	kick(t, TXQ);
	expect_used(t, TXQ, tx, 0);
	expect_used(t, RXQ, head, HDR + 60);
	expect_used_end(t, RXQ);
	expect_rx_frame(t, B_GPA + 0x8000, 1, 60, 6);
	TEST_ASSERT_EQ(eventfd_wait(t->f.vp.msix.vec[1].fd, WAIT_MS), 1);
	TEST_ASSERT_EQ(eventfd_wait(t->f.vp.msix.vec[2].fd, WAIT_MS), 1);

	/* Without MRG_RXBUF the header is the same, num_buffers 1 (§5.1.6.4). */
	cc_write(&t->f, STATUS, 1, 0);
	net_start(t, F_VERSION_1);
	memset(hva(t, B_GPA + 0x1000, 1600), 0xaa, 1600);
	head = add_buf(t, RXQ, B_GPA + 0x1000, 1600, W);
	push_frame(t, 200, 8);
	expect_used(t, RXQ, head, HDR + 200);
	expect_used_end(t, RXQ);
	expect_rx_frame(t, B_GPA + 0x1000, 1, 200, 8);
}

static void test_rx_push_mergeable_buffers(void **state)
{
	struct nf *t = *state;
	uint8_t *frame = malloc(900);
	uint16_t h[5];

	TEST_ASSERT(frame, "malloc");
	net_start(t, F_BASE);
	for (unsigned i = 0; i < 5; i++)
		h[i] = add_buf(t, RXQ, B_GPA + 0x1000 * i, 256, W);
	/* 12 + 900 bytes: three full buffers and 144 bytes of a fourth. */
	push_frame(t, 900, 9);
	expect_used(t, RXQ, h[0], 256);
	expect_used(t, RXQ, h[1], 256);
	expect_used(t, RXQ, h[2], 256);
	expect_used(t, RXQ, h[3], 144);
	expect_used_end(t, RXQ);
	TEST_ASSERT_EQ(*hva(t, B_GPA + 10, 1), 4); /* num_buffers */
	memcpy(frame, hva(t, B_GPA + HDR, 256 - HDR), 256 - HDR);
	for (unsigned i = 1; i < 4; i++)
		memcpy(frame + 256 * i - HDR, hva(t, B_GPA + 0x1000 * i, 256), i < 3 ? 256 : 144);
	TEST_ASSERT(is_pattern(frame, 900, 9), "frame not reassembled");
	free(frame);
	/* The fifth was given back, and the next frame takes it. */
	push_frame(t, 50, 10);
	expect_used(t, RXQ, h[4], HDR + 50);
	expect_used_end(t, RXQ);
	expect_rx_frame(t, B_GPA + 0x4000, 1, 50, 10);
	TEST_ASSERT_EQ(t->fb.be.rx_frames, 2);
}

/* Frames wait for buffers in order; a full backlog drops; reset frees what waits. */
static void test_rx_push_backlog_keeps_order(void **state)
{
	struct nf *t = *state;
	uint16_t h[VIRTIO_NET_RX_BACKLOG];

	net_start(t, F_BASE);
	for (unsigned i = 0; i < 3; i++)
		push_frame(t, 60 + 10 * i, 11 + i);
	expect_used_end(t, RXQ);
	TEST_ASSERT_EQ(t->net.backlog_len, 3);
	/* A buffer, but no notification yet: the next frame must not overtake. */
	h[0] = add_buf(t, RXQ, B_GPA, 256, W);
	push_frame(t, 90, 14);
	expect_used_end(t, RXQ);
	TEST_ASSERT_EQ(t->net.backlog_len, 4);
	for (unsigned i = 1; i < 4; i++)
		h[i] = add_buf(t, RXQ, B_GPA + 0x100 * i, 256, W);
	kick(t, RXQ);
	for (unsigned i = 0; i < 4; i++) {
		expect_used(t, RXQ, h[i], HDR + 60 + 10 * i);
		expect_rx_frame(t, B_GPA + 0x100 * i, 1, 60 + 10 * i, 11 + i);
	}
	expect_used_end(t, RXQ);
	TEST_ASSERT_EQ(t->net.backlog_len, 0);

	/* Beyond VIRTIO_NET_RX_BACKLOG waiting frames, new ones are dropped. */
	for (unsigned i = 0; i < VIRTIO_NET_RX_BACKLOG + 2; i++)
		push_frame(t, 100, 100 + i);
	TEST_ASSERT_EQ(t->net.backlog_len, VIRTIO_NET_RX_BACKLOG);
	TEST_ASSERT_EQ(t->fb.be.rx_dropped, 2);
	for (unsigned i = 0; i < VIRTIO_NET_RX_BACKLOG; i++)
		h[i] = add_buf(t, RXQ, C_GPA + 128 * i, 128, W);
	kick(t, RXQ);
	for (unsigned i = 0; i < VIRTIO_NET_RX_BACKLOG; i++) {
		expect_used(t, RXQ, h[i], HDR + 100);
		expect_rx_frame(t, C_GPA + 128 * i, 1, 100, 100 + i);
	}
	expect_used_end(t, RXQ);
	TEST_ASSERT_EQ(t->fb.be.rx_frames, 4 + VIRTIO_NET_RX_BACKLOG);
	/* These still wait when the test ends: teardown's reset frees them. */
	for (unsigned i = 0; i < 3; i++)
		push_frame(t, 2000, 200 + i);
	TEST_ASSERT_EQ(t->net.backlog_len, 3);
}

static bool all_bytes(struct nf *t, uint64_t gpa, size_t len, uint8_t v)
{
	const uint8_t *p = hva(t, gpa, len);

	return p[0] == v && !memcmp(p, p + 1, len - 1);
}

/* Unusable receive chains get no data and are completed once; the ring stays sane. */
static void test_rx_hostile_buffers(void **state)
{
	struct nf *t = *state;
	const struct buf mixed[] = { { B_GPA + 0x1000, 16, 0 }, { B_GPA + 0x1100, 2048, W } };
	uint16_t h[5];

	net_start(t, F_BASE);
	memset(hva(t, B_GPA, 0x8000), 0x5a, 0x8000);
	h[0] = add_buf(t, RXQ, B_GPA, 2048, 0);	      /* device-readable */
	h[1] = add_chain(t, RXQ, mixed, 2);	      /* readable, then writable */
	h[2] = add_buf(t, RXQ, B_GPA + 0x2000, 8, W); /* no room for the header */
	h[3] = take_desc(t, RXQ, 1);		      /* next past the queue */
	put_desc(t, RXQ, h[3], B_GPA + 0x3000, 64, W | VIRTQ_DESC_F_NEXT, QSIZE);
	avail_add(t, RXQ, h[3]);
	h[4] = add_buf(t, RXQ, B_GPA + 0x4000, 2048, W);
	push_frame(t, 100, 20);
	for (unsigned i = 0; i < 4; i++)
		expect_used(t, RXQ, h[i], 0);
	expect_used(t, RXQ, h[4], HDR + 100);
	expect_used_end(t, RXQ);
	TEST_ASSERT(all_bytes(t, B_GPA, 0x4000, 0x5a), "an unusable buffer was written");
	expect_rx_frame(t, B_GPA + 0x4000, 1, 100, 20);

	/* A readable chain after a good small one: the frame cannot use either,
	 * and nothing may be completed among buffers that are given back. */
	add_buf(t, RXQ, B_GPA + 0x5000, 64, W);
	add_buf(t, RXQ, B_GPA + 0x6000, 2048, 0);
	add_buf(t, RXQ, B_GPA + 0x7000, 2048, W);
	push_frame(t, 200, 21);
	kick(t, RXQ);
	push_frame(t, 200, 22);
	expect_used_end(t, RXQ);
	TEST_ASSERT(all_bytes(t, B_GPA + 0x5000, 0x3000, 0x5a), "an unusable buffer was written");
	TEST_ASSERT_EQ(status(&t->f) & S_NEEDS_RESET, 0);
}

static void test_rx_bad_ring_needs_reset(void **state)
{
	struct nf *t = *state;

	enable_msix(&t->f);
	net_start(t, F_BASE);
	/* avail->idx more than the queue size ahead */
	put16(&t->f, ring_gpa(RXQ, 1) + 2, QSIZE + 1);
	push_frame(t, 60, 30);
	TEST_ASSERT_EQ(status(&t->f) & S_NEEDS_RESET, S_NEEDS_RESET);
	TEST_ASSERT_EQ(eventfd_wait(t->f.vp.msix.vec[0].fd, WAIT_MS), 1);
	push_frame(t, 60, 31);
	kick(t, RXQ);
	TEST_ASSERT_EQ(vector_fired(&t->f, 0), 0); /* signalled once */
	expect_used_end(t, RXQ);
	TEST_ASSERT_EQ(t->fb.be.rx_frames, 0);
	cc_write(&t->f, STATUS, 1, 0);
	TEST_ASSERT_EQ(t->net.backlog_len, 0);
}

/* Reset while frames wait: they are freed (LSan), and the device starts afresh. */
static void test_reset_frees_backlog(void **state)
{
	struct nf *t = *state;
	static const size_t lens[] = { 1514, 9000, 60, NET_MAX_FRAME, 100 };
	uint16_t head;

	net_start(t, F_BASE);
	TEST_ASSERT_EQ(t->fb.attaches, 1);
	for (unsigned i = 0; i < ARRAY_LEN(lens); i++)
		push_frame(t, lens[i], 40 + i);
	push_frame(t, NET_MAX_FRAME + 1, 45); /* no frame is that long */
	TEST_ASSERT_EQ(t->net.backlog_len, ARRAY_LEN(lens));
	cc_write(&t->f, STATUS, 1, 0);
	TEST_ASSERT_EQ(t->fb.detaches, 1);
	TEST_ASSERT_EQ(t->net.backlog_len, 0);
	expect_used_end(t, RXQ);
	net_start(t, F_BASE);
	TEST_ASSERT_EQ(t->fb.attaches, 2);
	head = add_buf(t, RXQ, B_GPA, 2048, W);
	push_frame(t, 100, 46);
	expect_used(t, RXQ, head, HDR + 100);
	expect_used_end(t, RXQ);
	expect_rx_frame(t, B_GPA, 1, 100, 46);
}

/* ------------------------------------------------ receive: pull model ---- */

static void queue_frame(struct nf *t, size_t len, unsigned seed)
{
	uint8_t frame[2048];

	pattern(frame, len, seed);
	fb_queue(&t->fb, frame, len);
}

/* Frames go straight into guest buffers; without buffers rx_fd is not watched till a kick. */
static void test_rx_pull_waits_for_buffers(void **state)
{
	struct nf *t = *state;
	uint16_t h[3];

	net_start(t, F_BASE);
	settle(&t->f);
	TEST_ASSERT(t->net.watching_rx_fd, "rx_fd not watched after DRIVER_OK");
	TEST_ASSERT_EQ(t->fb.attaches, 1);
	for (unsigned i = 0; i < 2; i++)
		h[i] = add_buf(t, RXQ, B_GPA + 0x1000 * i, 1600, W);
	queue_frame(t, 60, 50);
	queue_frame(t, 1514, 51);
	settle(&t->f);
	expect_used(t, RXQ, h[0], HDR + 60);
	expect_used(t, RXQ, h[1], HDR + 1514);
	expect_used_end(t, RXQ);
	expect_rx_frame(t, B_GPA, 1, 60, 50);
	expect_rx_frame(t, B_GPA + 0x1000, 1, 1514, 51);
	TEST_ASSERT_EQ(t->fb.recv_cap, 1600 - HDR);
	TEST_ASSERT_EQ(t->fb.be.rx_frames, 2);
	/* Out of buffers: the device stops watching rx_fd, whatever arrives. */
	TEST_ASSERT(!t->net.watching_rx_fd, "rx_fd watched without buffers");
	queue_frame(t, 100, 52);
	kick(t, RXQ);
	TEST_ASSERT(!t->net.watching_rx_fd, "rx_fd watched without buffers");
	TEST_ASSERT_EQ(t->fb.recvs, 2);
	/* A buffer and a kick: it reads again. */
	h[2] = add_buf(t, RXQ, B_GPA + 0x2000, 1600, W);
	kick(t, RXQ);
	expect_used(t, RXQ, h[2], HDR + 100);
	expect_rx_frame(t, B_GPA + 0x2000, 1, 100, 52);
	/* And with buffers but no frame it watches rx_fd again. */
	h[0] = add_buf(t, RXQ, B_GPA, 1600, W);
	kick(t, RXQ);
	TEST_ASSERT(t->net.watching_rx_fd, "rx_fd not watched again");
	expect_used_end(t, RXQ);
	queue_frame(t, 70, 53);
	settle(&t->f);
	expect_used(t, RXQ, h[0], HDR + 70);
	expect_rx_frame(t, B_GPA, 1, 70, 53);
}

/* Without guest TSO the buffers must hold 12 + 1518 bytes before a read. */
static void test_rx_pull_needs_a_full_frame_of_room(void **state)
{
	struct nf *t = *state;
	uint16_t h[3];

	net_start(t, F_BASE);
	h[0] = add_buf(t, RXQ, B_GPA, HDR + 1518 - 1, W);
	queue_frame(t, 60, 60);
	settle(&t->f);
	TEST_ASSERT_EQ(t->fb.recvs, 0);
	TEST_ASSERT(!t->net.watching_rx_fd, "rx_fd watched without room");
	expect_used_end(t, RXQ);
	h[1] = add_buf(t, RXQ, B_GPA + 0x1000, 100, W);
	kick(t, RXQ);
	TEST_ASSERT_EQ(t->fb.recvs, 1);
	TEST_ASSERT_EQ(t->fb.recv_cap, 1518 - 1 + 100);
	expect_used(t, RXQ, h[0], HDR + 60);
	expect_used_end(t, RXQ); /* the second buffer was given back */
	expect_rx_frame(t, B_GPA, 1, 60, 60);
	/* It is the first of the next frame. */
	h[2] = add_buf(t, RXQ, B_GPA + 0x2000, 2048, W);
	queue_frame(t, 1514, 61);
	kick(t, RXQ);
	expect_used(t, RXQ, h[1], 100);
	expect_used(t, RXQ, h[2], HDR + 1514 - 100);
	expect_used_end(t, RXQ);
	TEST_ASSERT_EQ(*hva(t, B_GPA + 0x1000 + 10, 1), 2); /* num_buffers */
	TEST_ASSERT(is_pattern(hva(t, B_GPA + 0x1000 + HDR, 88), 88, 61), "frame bytes");
	/* A reset stops reading: rx_fd unwatched, the backend detached. */
	add_buf(t, RXQ, B_GPA + 0x3000, 2048, W);
	kick(t, RXQ);
	TEST_ASSERT(t->net.watching_rx_fd, "rx_fd not watched");
	cc_write(&t->f, STATUS, 1, 0);
	TEST_ASSERT(!t->net.watching_rx_fd, "rx_fd watched after reset");
	TEST_ASSERT_EQ(t->fb.detaches, 1);
	queue_frame(t, 60, 62);
	settle(&t->f);
	TEST_ASSERT_EQ(t->fb.recvs, 2);
}

/* With guest TSO a frame may be 64 KiB: 12 + NET_MAX_FRAME bytes of buffers first. */
static void test_rx_pull_tso_needs_64k(void **state)
{
	struct nf *t = *state;
	const struct net_vnet_hdr gso = { DATA_VALID, GSO_TCPV4, htole16(54),	 htole16(1448),
					  0,	      0,	 htole16(0x7777) };
	struct net_vnet_hdr want = gso;
	uint8_t frame[5000], *p;
	uint16_t h[17];

	net_start(t, F_BASE | F_GUEST_CSUM | F_GUEST_TSO4);
	TEST_ASSERT_EQ(t->fb.offloads, NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4);
	for (unsigned i = 0; i < 16; i++) /* 64 KiB: 30 bytes short */
		h[i] = add_buf(t, RXQ, C_GPA + 4096 * i, 4096, W);
	memcpy(frame, &gso, HDR);
	pattern(frame + HDR, sizeof(frame) - HDR, 70);
	fb_queue(&t->fb, frame, sizeof(frame));
	settle(&t->f);
	TEST_ASSERT_EQ(t->fb.recvs, 0);
	TEST_ASSERT(!t->net.watching_rx_fd, "rx_fd watched without room");
	h[16] = add_buf(t, RXQ, C_GPA + 4096 * 16, 4096, W);
	kick(t, RXQ);
	TEST_ASSERT_EQ(t->fb.recvs, 1);
	TEST_ASSERT_EQ(t->fb.recv_cap, 17 * 4096); /* the backend writes the header */
	expect_used(t, RXQ, h[0], 4096);
	expect_used(t, RXQ, h[1], sizeof(frame) - 4096);
	expect_used_end(t, RXQ);
	p = hva(t, C_GPA, sizeof(frame));
	want.num_buffers = htole16(2); /* the device's field; the rest is the backend's */
	TEST_ASSERT(!memcmp(p, &want, HDR), "header");
	TEST_ASSERT(is_pattern(p + HDR, sizeof(frame) - HDR, 70), "frame bytes");
}

int main(void)
{
#define PUSH(fn) cmocka_unit_test_setup_teardown(fn, setup_push, teardown_net)
#define PULL(fn) cmocka_unit_test_setup_teardown(fn, setup_pull, teardown_net)
#define VNET(fn) cmocka_unit_test_setup_teardown(fn, setup_pull_vnet, teardown_net)
	const struct CMUnitTest tests[] = {
		PUSH(test_tx_malformed_chains_are_dropped),
		VNET(test_tx_header_is_copied_and_checked),
		PUSH(test_tx_good_frames_reach_the_backend),
		PUSH(test_rx_hostile_buffers),
		PUSH(test_rx_bad_ring_needs_reset),
		PUSH(test_rx_push_one_big_buffer),
		PUSH(test_rx_push_mergeable_buffers),
		PUSH(test_rx_push_backlog_keeps_order),
		PULL(test_rx_pull_waits_for_buffers),
		PULL(test_rx_pull_needs_a_full_frame_of_room),
		VNET(test_rx_pull_tso_needs_64k),
		PUSH(test_reset_frees_backlog),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
