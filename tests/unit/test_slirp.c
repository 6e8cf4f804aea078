/* Unit tests for devices/net/hostfwd.c and slirp.c: hostile specs, then slirp on an evloop. */
#include "test_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "devices/net/hostfwd.h"
#include "devices/net/slirp.h"
#include "vmm/evloop.h"

#define WAIT_MS 5000 /* for what must happen; a miss fails the test, not hangs it */
#define RXQ_MAX 256

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
/* slirp's own hosts answer as 52:55:IP (slirp.c: special_ethaddr) */
static const uint8_t gateway_mac[6] = { 0x52, 0x55, 10, 0, 2, 2 };

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define GUEST_IP	IP4(10, 0, 2, 15)
#define GATEWAY_IP	IP4(10, 0, 2, 2)

/* ------------------------------------------------------ hostfwd parser ---- */

static void test_hostfwd_rejects_hostile_specs(void **state)
{
	static const struct {
		const char *spec;
		const char *why; /* in the error message */
	} bad[] = {
		{ "", "empty spec" },
		{ "icmp::1-:1", "bad protocol 'icmp'" },
		{ "TCP::1-:1", "bad protocol 'TCP'" },
		{ "tcpx::1-:1", "bad protocol 'tcpx'" },
		{ "tcp::8080:80", "expected [tcp|udp]:" },
		{ "tcp::8080", "expected [tcp|udp]:" },
		{ "tcp:8080-:80", "expected [tcp|udp]:" },
		{ "tcp::8080-80", "expected [tcp|udp]:" },
		{ "8080-:80", "expected [tcp|udp]:" },
		{ "tcp", "expected [tcp|udp]:" },
		{ "tcp::0-:22", "bad host port '0'" },
		{ "tcp::65536-:22", "bad host port '65536'" },
		{ "tcp::99999-:22", "bad host port '99999'" },
		{ "tcp::100000-:22", "bad host port '100000'" },
		{ "tcp::-:22", "bad host port ''" },
		{ "tcp::ssh-:22", "bad host port 'ssh'" },
		{ "tcp::+22-:22", "bad host port '+22'" },
		{ "tcp::-22-:22", "bad host port ''" },
		{ "tcp::0x16-:22", "bad host port '0x16'" },
		{ "tcp::022-:22", "bad host port '022'" },
		{ "tcp::22-:0", "bad guest port '0'" },
		{ "tcp::22-:65536", "bad guest port '65536'" },
		{ "tcp::22-:", "bad guest port ''" },
		{ "tcp::22-:22x", "bad guest port '22x'" },
		{ "tcp::22-:22:1", "bad guest port '22:1'" },
		{ "tcp::22-:22-1", "bad guest port '22-1'" },
		{ "tcp:localhost:22-:22", "bad host address 'localhost'" },
		{ "tcp:127.1:22-:22", "bad host address '127.1'" },
		{ "tcp:0x7f.0.0.1:22-:22", "bad host address '0x7f.0.0.1'" },
		{ "tcp:256.0.0.1:22-:22", "bad host address '256.0.0.1'" },
		{ "tcp:1.2.3.4.5:22-:22", "bad host address '1.2.3.4.5'" },
		{ "tcp:1.2.3.:22-:22", "bad host address '1.2.3.'" },
		{ "tcp:[::1]:22-:22", "bad host address '['" },
		{ ":8080-:80", "expected [tcp|udp]:" },
		{ "tcp::22-10.0.2:22", "bad guest address '10.0.2'" },
		{ "tcp::22-guest:22", "bad guest address 'guest'" },
		{ "tcp: :22-:22", "unexpected character 0x20 at offset 4" },
		{ "tcp::22-:22\n", "unexpected character 0x0a at offset 11" },
		{ "tcp::22-:2\t2", "unexpected character 0x09" },
		{ "tcp:\xff:22-:22", "unexpected character 0xff at offset 4" },
		{ "tcp:127.0.0.1:22-10.0.2.15:22-tcp:127.0.0.1:23-10.0.2.15:23-udp:1.2.3.4:5-:6",
		  "longer than 64 characters" },
	};
	char err[256];

	(void)state;
	for (unsigned i = 0; i < ARRAY_LEN(bad); i++) {
		struct net_hostfwd fwd = { .host_port = 4242 };

		err[0] = '\0';
		TEST_ASSERT(net_hostfwd_parse(bad[i].spec, &fwd, err, sizeof(err)) == -EINVAL,
			    "'%s' was accepted", bad[i].spec);
		TEST_ASSERT(strstr(err, bad[i].why), "'%s': error '%s' lacks '%s'", bad[i].spec,
			    err, bad[i].why);
		TEST_ASSERT(strncmp(err, "hostfwd", 7) == 0 && !strchr(err, '\n'),
			    "'%s': error '%s' is not one hostfwd line", bad[i].spec, err);
		TEST_ASSERT_EQ(fwd.host_port, 4242); /* untouched */
	}
}

static void test_hostfwd_errors_fit_any_buffer(void **state)
{
	struct net_hostfwd fwd;
	char err[8];

	(void)state;
	/* NULL and tiny buffers: still -EINVAL, nothing written past the end. */
	TEST_ASSERT_EQ(net_hostfwd_parse("tcp::0-:22", &fwd, NULL, 0), -EINVAL);
	memset(err, 'X', sizeof(err));
	TEST_ASSERT_EQ(net_hostfwd_parse("tcp::0-:22", &fwd, err, 4), -EINVAL);
	TEST_ASSERT(strcmp(err, "hos") == 0 && err[4] == 'X', "err is '%.8s'", err);
}

static void test_hostfwd_accepts_good_specs(void **state)
{
	static const struct {
		const char *spec;
		bool udp;
		uint32_t host_addr, guest_addr; /* host byte order */
		uint16_t host_port, guest_port;
		const char *formatted;
	} good[] = {
		/* empty HOSTADDR is loopback (QEMU's is every interface), empty GUESTADDR 0 */
		{ "tcp::2222-:22", false, IP4(127, 0, 0, 1), 0, 2222, 22, "tcp::2222-:22" },
		{ "::8080-:80", false, IP4(127, 0, 0, 1), 0, 8080, 80, "tcp::8080-:80" },
		{ "udp::5353-:53", true, IP4(127, 0, 0, 1), 0, 5353, 53, "udp::5353-:53" },
		{ "tcp:0.0.0.0:1-:65535", false, 0, 0, 1, 65535, "tcp:0.0.0.0:1-:65535" },
		{ "tcp:127.0.0.1:65535-10.0.2.15:1", false, IP4(127, 0, 0, 1), GUEST_IP, 65535, 1,
		  "tcp::65535-10.0.2.15:1" },
		{ "udp:192.168.1.10:6000-10.0.2.20:7000", true, IP4(192, 168, 1, 10),
		  IP4(10, 0, 2, 20), 6000, 7000, "udp:192.168.1.10:6000-10.0.2.20:7000" },
		{ "tcp::10-0.0.0.0:10", false, IP4(127, 0, 0, 1), 0, 10, 10, "tcp::10-:10" },
	};

	(void)state;
	for (unsigned i = 0; i < ARRAY_LEN(good); i++) {
		struct net_hostfwd fwd, back;
		char err[256] = "", text[NET_HOSTFWD_SPEC_MAX + 1];

		TEST_ASSERT(net_hostfwd_parse(good[i].spec, &fwd, err, sizeof(err)) == 0,
			    "'%s' refused: %s", good[i].spec, err);
		TEST_ASSERT_EQ(fwd.udp, good[i].udp);
		TEST_ASSERT_EQ(ntohl(fwd.host_addr.s_addr), good[i].host_addr);
		TEST_ASSERT_EQ(fwd.host_port, good[i].host_port);
		TEST_ASSERT_EQ(ntohl(fwd.guest_addr.s_addr), good[i].guest_addr);
		TEST_ASSERT_EQ(fwd.guest_port, good[i].guest_port);
		net_hostfwd_format(&fwd, text, sizeof(text));
		TEST_ASSERT(strcmp(text, good[i].formatted) == 0, "'%s' formats as '%s'",
			    good[i].spec, text);
		TEST_ASSERT_EQ(net_hostfwd_parse(text, &back, err, sizeof(err)), 0);
		TEST_ASSERT(memcmp(&fwd, &back, sizeof(fwd)) == 0, "'%s' does not round-trip",
			    text);
	}
}

/* -------------------------------------------------------------- frames ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* RFC 1071 one's-complement sum, folded; start carries a pseudo-header's sum. */
static uint16_t inet_csum(const uint8_t *p, size_t len, uint32_t start)
{
	uint32_t sum = start;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static size_t put_eth(uint8_t *f, const uint8_t *dst, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, type);
	return 14;
}

static void put_ip4(uint8_t *ip, uint16_t total, uint8_t proto, uint32_t src, uint32_t dst)
{
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, total);
	ip[8] = 64; /* TTL */
	ip[9] = proto;
	put32(ip + 12, src);
	put32(ip + 16, dst);
	put16(ip + 10, inet_csum(ip, 20, 0));
}

/* An ARP request from the guest (10.0.2.15) for ip: 42 bytes. */
static size_t build_arp_request(uint8_t *f, uint32_t ip)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t *a = f + put_eth(f, bcast, 0x0806);

	put16(a, 1); /* Ethernet */
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 1); /* request */
	memcpy(a + 8, guest_mac, 6);
	put32(a + 14, GUEST_IP);
	memset(a + 18, 0, 6);
	put32(a + 24, ip);
	return 14 + 28;
}

#define DHCP_XID       0x1badcafe
#define BOOTP_LEN      (236 + 312) /* RFC 951 header plus RFC 2131's 312 option bytes */
#define DHCP_FRAME_LEN (14 + 20 + 8 + BOOTP_LEN)

/* A DHCPDISCOVER broadcast from guest_mac (RFC 2131 §4.4.1): 590 bytes. */
static size_t build_dhcp_discover(uint8_t *f)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t *ip = f + put_eth(f, bcast, 0x0800), *udp = ip + 20, *bp = udp + 8;
	uint8_t *opt = bp + 236;

	put_ip4(ip, 20 + 8 + BOOTP_LEN, 17, 0, 0xffffffff);
	put16(udp, 68);
	put16(udp + 2, 67);
	put16(udp + 4, 8 + BOOTP_LEN);
	put16(udp + 6, 0); /* no checksum (RFC 768) */
	memset(bp, 0, BOOTP_LEN);
	bp[0] = 1; /* BOOTREQUEST */
	bp[1] = 1; /* Ethernet */
	bp[2] = 6;
	put32(bp + 4, DHCP_XID);
	memcpy(bp + 28, guest_mac, 6);
	put32(opt, 0x63825363); /* magic cookie */
	opt[4] = 53;		/* DHCP message type: DISCOVER */
	opt[5] = 1;
	opt[6] = 1;
	opt[7] = 255;
	return DHCP_FRAME_LEN;
}

/* A TCP SYN from 10.0.2.15:sport to dst:dport: 54 bytes. */
static size_t build_tcp_syn(uint8_t *f, uint32_t dst, uint16_t sport, uint16_t dport)
{
	uint8_t *ip = f + put_eth(f, gateway_mac, 0x0800), *tcp = ip + 20;
	uint32_t pseudo =
		(GUEST_IP >> 16) + (GUEST_IP & 0xffff) + (dst >> 16) + (dst & 0xffff) + 6 + 20;

	put_ip4(ip, 40, 6, GUEST_IP, dst);
	memset(tcp, 0, 20);
	put16(tcp, sport);
	put16(tcp + 2, dport);
	put32(tcp + 4, 1000); /* sequence number */
	tcp[12] = 5 << 4;     /* data offset */
	tcp[13] = 0x02;	      /* SYN */
	put16(tcp + 14, 65535);
	put16(tcp + 16, inet_csum(tcp, 20, pseudo));
	return 14 + 40;
}

/* A Router Solicitation from fe80::5054:ff:fe12:3456 to ff02::2: 70 bytes. */
static size_t build_router_solicitation(uint8_t *f)
{
	static const uint8_t all_routers_mac[6] = { 0x33, 0x33, 0, 0, 0, 2 };
	static const uint8_t src[16] = { 0xfe, 0x80, [8] = 0x50, 0x54, 0x00,
					 0xff, 0xfe, 0x12,	 0x34, 0x56 };
	static const uint8_t dst[16] = { 0xff, 0x02, [15] = 2 };
	uint8_t *ip6 = f + put_eth(f, all_routers_mac, 0x86dd), *icmp = ip6 + 40;
	uint32_t pseudo = 16 + 58; /* upper-layer length, next header */

	memset(ip6, 0, 40);
	ip6[0] = 0x60;
	put16(ip6 + 4, 16);
	ip6[6] = 58;  /* ICMPv6 */
	ip6[7] = 255; /* RFC 4861 §6.1.1: hop limit 255 */
	memcpy(ip6 + 8, src, 16);
	memcpy(ip6 + 24, dst, 16);
	memset(icmp, 0, 16);
	icmp[0] = 133; /* Router Solicitation */
	icmp[8] = 1;   /* option: source link-layer address */
	icmp[9] = 1;
	memcpy(icmp + 10, guest_mac, 6);
	for (unsigned i = 0; i < 32; i += 2)
		pseudo += get16(ip6 + 8 + i);
	put16(icmp + 2, inet_csum(icmp, 16, pseudo));
	return 14 + 40 + 16;
}

/* ------------------------------------------------------------- fixture ---- */

struct rx_frame {
	size_t len;
	uint8_t *data;
};

struct fixture {
	struct evloop *loop;
	struct net_backend *be;
	pthread_mutex_t lock; /* the received frames: appended on the loop's thread */
	unsigned nframes;
	struct rx_frame frames[RXQ_MAX];
	unsigned off_thread; /* rx calls not on the loop's thread */
};

static void test_rx(void *opaque, const void *frame, size_t len)
{
	struct fixture *fx = opaque;

	pthread_mutex_lock(&fx->lock);
	if (!evloop_on_thread(fx->loop))
		fx->off_thread++;
	if (fx->nframes < RXQ_MAX) {
		struct rx_frame *f = &fx->frames[fx->nframes];

		f->data = malloc(len);
		if (f->data) {
			memcpy(f->data, frame, len);
			f->len = len;
			fx->nframes++;
		}
	}
	pthread_mutex_unlock(&fx->lock);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	pthread_mutex_init(&fx->lock, NULL);
	fx->loop = evloop_create("test-slirp");
	if (!fx->loop)
		return -1;
	*state = fx;
	return 0;
}

struct attach_args {
	struct net_backend *be;
	struct evloop *loop;
	int ret;
};

static void attach_on_loop(void *opaque)
{
	struct attach_args *a = opaque;

	a->ret = a->be->ops->attach(a->be, a->loop);
}

static void detach_on_loop(void *opaque)
{
	struct net_backend *be = opaque;

	be->ops->detach(be);
}

static int attach(struct net_backend *be, struct evloop *loop)
{
	struct attach_args a = { be, loop, 0 };

	evloop_call(loop, attach_on_loop, &a);
	return a.ret;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	if (fx->be) {
		evloop_call(fx->loop, detach_on_loop, fx->be);
		fx->be->ops->destroy(fx->be);
	}
	evloop_destroy(fx->loop);
	for (unsigned i = 0; i < fx->nframes; i++)
		free(fx->frames[i].data);
	pthread_mutex_destroy(&fx->lock);
	free(fx);
	return 0;
}

/* Creates a backend from cfg (NULL: no forwards), handing frames to fx, attached to fx->loop. */
static void start(struct fixture *fx, const struct net_slirp_config *cfg)
{
	static const struct net_slirp_config none;
	char err[256] = "";

	fx->be = net_slirp_create(cfg ? cfg : &none, err, sizeof(err));
	TEST_ASSERT(fx->be, "net_slirp_create: %s", err);
	TEST_ASSERT(strcmp(fx->be->ops->name, "user") == 0, "name %s", fx->be->ops->name);
	TEST_ASSERT_EQ(fx->be->vnet_hdr, false);
	TEST_ASSERT_EQ(fx->be->rx_fd, -1);
	fx->be->rx = test_rx;
	fx->be->rx_opaque = fx;
	TEST_ASSERT_EQ(attach(fx->be, fx->loop), 0);
}

struct send_args {
	struct net_backend *be;
	const struct iovec *iov;
	unsigned iovcnt;
	int ret;
};

static void send_on_loop(void *opaque)
{
	struct send_args *a = opaque;

	a->ret = a->be->ops->send(a->be, a->iov, a->iovcnt);
}

static int send_iov(struct fixture *fx, const struct iovec *iov, unsigned iovcnt)
{
	struct send_args a = { fx->be, iov, iovcnt, 0 };

	evloop_call(fx->loop, send_on_loop, &a);
	return a.ret;
}

static int send_frame(struct fixture *fx, const void *frame, size_t len)
{
	struct iovec iov = { (void *)frame, len };

	return send_iov(fx, &iov, 1);
}

struct counters {
	struct net_backend *be;
	uint64_t tx_frames, tx_dropped, rx_frames, rx_dropped;
};

static void read_counters_on_loop(void *opaque)
{
	struct counters *c = opaque;

	c->tx_frames = c->be->tx_frames;
	c->tx_dropped = c->be->tx_dropped;
	c->rx_frames = c->be->rx_frames;
	c->rx_dropped = c->be->rx_dropped;
}

static struct counters read_counters(struct fixture *fx)
{
	struct counters c = { .be = fx->be };

	evloop_call(fx->loop, read_counters_on_loop, &c);
	return c;
}

typedef bool frame_match_fn(const uint8_t *f, size_t len, const void *ctx);

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* The first received frame that match accepts, waiting up to WAIT_MS; NULL if none came. */
static const struct rx_frame *wait_frame(struct fixture *fx, frame_match_fn *match, const void *ctx)
{
	for (unsigned ms = 0, seen = 0; ms <= WAIT_MS; ms++) {
		unsigned n;

		pthread_mutex_lock(&fx->lock);
		n = fx->nframes;
		pthread_mutex_unlock(&fx->lock);
		/* Frames are only appended and stay put until teardown. */
		for (; seen < n; seen++)
			if (match(fx->frames[seen].data, fx->frames[seen].len, ctx))
				return &fx->frames[seen];
		sleep_ms(1);
	}
	return NULL;
}

static unsigned frames_received(struct fixture *fx)
{
	unsigned n;

	pthread_mutex_lock(&fx->lock);
	n = fx->nframes;
	pthread_mutex_unlock(&fx->lock);
	return n;
}

/* The IPv4 payload of f when it is protocol proto, or NULL; *ip the header. */
static const uint8_t *ip4_payload(const uint8_t *f, size_t len, uint8_t proto, const uint8_t **ip)
{
	size_t ihl;

	if (len < 14 + 20 || get16(f + 12) != 0x0800 || (f[14] >> 4) != 4 || f[14 + 9] != proto)
		return NULL;
	ihl = (size_t)(f[14] & 0xf) * 4;
	if (ihl < 20 || len < 14 + ihl + 20)
		return NULL;
	*ip = f + 14;
	return f + 14 + ihl;
}

/* -------------------------------------------------------- slirp: guest ---- */

static bool is_arp_reply_from_gateway(const uint8_t *f, size_t len, const void *ctx)
{
	const uint8_t *a = f + 14;

	(void)ctx;
	return len >= 42 && get16(f + 12) == 0x0806 && memcmp(f, guest_mac, 6) == 0 &&
	       get16(a + 6) == 2 && memcmp(a + 8, gateway_mac, 6) == 0 &&
	       get32(a + 14) == GATEWAY_IP && memcmp(a + 18, guest_mac, 6) == 0 &&
	       get32(a + 24) == GUEST_IP;
}

/* Also teaches slirp the guest's MAC, which it needs before sending to 10.0.2.15. */
static void arp_for_gateway(struct fixture *fx)
{
	uint8_t f[64];
	size_t len = build_arp_request(f, GATEWAY_IP);

	TEST_ASSERT_EQ(send_frame(fx, f, len), 0);
	TEST_ASSERT(wait_frame(fx, is_arp_reply_from_gateway, NULL),
		    "no ARP reply for 10.0.2.2 within %d ms", WAIT_MS);
}

static void test_arp_for_gateway_is_answered(void **state)
{
	struct fixture *fx = *state;
	struct counters c;

	start(fx, NULL);
	arp_for_gateway(fx);
	c = read_counters(fx);
	TEST_ASSERT_EQ(c.tx_frames, 1);
	TEST_ASSERT_EQ(c.tx_dropped, 0);
	TEST_ASSERT(c.rx_frames >= 1, "rx_frames %llu", (unsigned long long)c.rx_frames);
	TEST_ASSERT_EQ(fx->off_thread, 0);
}

static void test_frame_gathered_from_iovecs(void **state)
{
	struct fixture *fx = *state;
	uint8_t f[64];
	size_t len;

	start(fx, NULL);
	len = build_arp_request(f, GATEWAY_IP);
	/* header split mid-field, an empty piece, the rest */
	struct iovec iov[] = { { f, 9 }, { f + 9, 0 }, { f + 9, 11 }, { f + 20, len - 20 } };

	TEST_ASSERT_EQ(send_iov(fx, iov, ARRAY_LEN(iov)), 0);
	TEST_ASSERT(wait_frame(fx, is_arp_reply_from_gateway, NULL),
		    "no ARP reply to a gathered request");
}

static bool is_dhcp_offer(const uint8_t *f, size_t len, const void *ctx)
{
	const uint8_t *ip, *udp = ip4_payload(f, len, 17, &ip), *bp, *opt, *end = f + len;

	(void)ctx;
	if (!udp || get16(udp) != 67 || get16(udp + 2) != 68 || udp + 8 + 240 > end)
		return false;
	bp = udp + 8;
	if (bp[0] != 2 || get32(bp + 4) != DHCP_XID || get32(bp + 16) != GUEST_IP ||
	    memcmp(bp + 28, guest_mac, 6) != 0 || get32(bp + 236) != 0x63825363)
		return false;
	/* RFC 2132 options: find 53 (message type) = 2 (OFFER) */
	for (opt = bp + 240; opt < end && *opt != 255;) {
		if (*opt == 0) {
			opt++;
			continue;
		}
		if (opt + 2 > end || opt + 2 + opt[1] > end)
			return false;
		if (opt[0] == 53 && opt[1] == 1)
			return opt[2] == 2;
		opt += 2 + opt[1];
	}
	return false;
}

static void test_dhcp_discover_gets_offer_of_10_0_2_15(void **state)
{
	struct fixture *fx = *state;
	uint8_t f[DHCP_FRAME_LEN];

	start(fx, NULL);
	TEST_ASSERT_EQ(send_frame(fx, f, build_dhcp_discover(f)), 0);
	TEST_ASSERT(wait_frame(fx, is_dhcp_offer, NULL), "no DHCPOFFER of 10.0.2.15 within %d ms",
		    WAIT_MS);
}

static bool is_router_advertisement(const uint8_t *f, size_t len, const void *ctx)
{
	static const uint8_t fec0[8] = { 0xfe, 0xc0 };
	const uint8_t *icmp = f + 14 + 40;

	(void)ctx;
	if (len < 14 + 40 + 16 || get16(f + 12) != 0x86dd || f[14 + 6] != 58 || icmp[0] != 134)
		return false;
	/* RFC 4861 §4.6.2: a prefix information option for fec0::/64 */
	for (const uint8_t *opt = icmp + 16; opt + 8 <= f + len && opt[1];) {
		if (opt + opt[1] * 8 > f + len)
			return false;
		if (opt[0] == 3 && opt[1] == 4 && opt[2] == 64 && memcmp(opt + 16, fec0, 8) == 0)
			return true;
		opt += opt[1] * 8;
	}
	return false;
}

static void test_router_solicitation_gets_fec0_prefix(void **state)
{
	struct fixture *fx = *state;
	uint8_t f[128];

	start(fx, NULL);
	TEST_ASSERT_EQ(send_frame(fx, f, build_router_solicitation(f)), 0);
	TEST_ASSERT(wait_frame(fx, is_router_advertisement, NULL),
		    "no router advertisement of fec0::/64 within %d ms", WAIT_MS);
}

static void test_runt_and_oversized_frames_dropped(void **state)
{
	struct fixture *fx = *state;
	static uint8_t big[NET_MAX_FRAME + 1];
	struct iovec over[] = { { big, NET_MAX_FRAME }, { big, 1 } };
	struct iovec huge[] = { { big, NET_MAX_FRAME }, { big, SIZE_MAX - 10 } };
	struct counters c;

	start(fx, NULL);
	TEST_ASSERT_EQ(send_frame(fx, big, 0), -EINVAL);
	TEST_ASSERT_EQ(send_frame(fx, big, 13), -EINVAL);
	TEST_ASSERT_EQ(send_iov(fx, NULL, 0), -EINVAL);
	TEST_ASSERT_EQ(send_frame(fx, big, NET_MAX_FRAME + 1), -EMSGSIZE);
	TEST_ASSERT_EQ(send_iov(fx, over, ARRAY_LEN(over)), -EMSGSIZE);
	/* lengths whose sum wraps around must not slip through */
	TEST_ASSERT_EQ(send_iov(fx, huge, ARRAY_LEN(huge)), -EMSGSIZE);
	c = read_counters(fx);
	TEST_ASSERT_EQ(c.tx_dropped, 6);
	TEST_ASSERT_EQ(c.tx_frames, 0);

	/* The limits themselves pass (slirp ignores the zero ethertype). */
	TEST_ASSERT_EQ(send_frame(fx, big, 14), 0);
	TEST_ASSERT_EQ(send_frame(fx, big, NET_MAX_FRAME), 0);
	c = read_counters(fx);
	TEST_ASSERT_EQ(c.tx_frames, 2);
	TEST_ASSERT_EQ(c.tx_dropped, 6);
}

static void test_no_rx_after_detach(void **state)
{
	struct fixture *fx = *state;
	uint8_t f[64];
	size_t len = build_arp_request(f, GATEWAY_IP);
	unsigned before;
	struct counters c;

	start(fx, NULL);
	arp_for_gateway(fx);
	evloop_call(fx->loop, detach_on_loop, fx->be);
	before = frames_received(fx);
	TEST_ASSERT_EQ(send_frame(fx, f, len), 0);
	c = read_counters(fx);
	TEST_ASSERT_EQ(frames_received(fx), before);
	TEST_ASSERT_EQ(c.rx_dropped, 1);
	/* and it attaches again */
	TEST_ASSERT_EQ(attach(fx->be, fx->loop), 0);
	TEST_ASSERT_EQ(attach(fx->be, fx->loop), -EBUSY);
	TEST_ASSERT_EQ(send_frame(fx, f, len), 0);
	TEST_ASSERT(frames_received(fx) > before, "no reply after attaching again");
}

static void test_all_instances_share_one_loop(void **state)
{
	struct fixture *fx = *state;
	static const struct net_slirp_config none;
	struct evloop *other = evloop_create("test-slirp-2");
	struct net_backend *second, *third;
	char err[256] = "";

	TEST_ASSERT(other, "evloop_create");
	start(fx, NULL);
	second = net_slirp_create(&none, err, sizeof(err));
	third = net_slirp_create(&none, err, sizeof(err));
	TEST_ASSERT(second && third, "net_slirp_create: %s", err);
	second->rx = third->rx = test_rx;
	second->rx_opaque = third->rx_opaque = fx;
	/* libslirp's global state: a second loop is refused, the same loop shared */
	TEST_ASSERT_EQ(attach(second, other), -EBUSY);
	TEST_ASSERT_EQ(attach(second, fx->loop), 0);
	TEST_ASSERT_EQ(attach(third, fx->loop), 0);
	arp_for_gateway(fx);
	evloop_call(fx->loop, detach_on_loop, second);
	second->ops->destroy(second);
	third->ops->destroy(third); /* still attached: destroy detaches */
	arp_for_gateway(fx);
	evloop_destroy(other);
}

/* -------------------------------------------------------- slirp: host ---- */

/* A TCP socket on 127.0.0.1, listening or not; *port its port. */
static int loopback_socket(uint16_t *port, bool listening)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	TEST_ASSERT(fd >= 0, "socket: %s", strerror(errno));
	TEST_ASSERT(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind: %s", strerror(errno));
	TEST_ASSERT(!listening || listen(fd, 4) == 0, "listen: %s", strerror(errno));
	TEST_ASSERT(getsockname(fd, (struct sockaddr *)&sa, &salen) == 0, "getsockname");
	*port = ntohs(sa.sin_port);
	return fd;
}

static uint16_t free_port(void)
{
	uint16_t port;

	close(loopback_socket(&port, false));
	return port;
}

struct tcp_match {
	uint32_t src, dst;
	uint16_t sport, dport; /* 0: any */
	uint8_t flags, flags_mask;
};

static bool is_tcp(const uint8_t *f, size_t len, const void *ctx)
{
	const struct tcp_match *m = ctx;
	const uint8_t *ip, *tcp = ip4_payload(f, len, 6, &ip);

	return tcp && get32(ip + 12) == m->src && get32(ip + 16) == m->dst &&
	       (!m->sport || get16(tcp) == m->sport) && get16(tcp + 2) == m->dport &&
	       (tcp[13] & m->flags_mask) == m->flags;
}

static void test_hostfwd_connect_reaches_guest_as_syn(void **state)
{
	struct fixture *fx = *state;
	struct net_slirp_config cfg = { .nfwd = 1 };
	char spec[64], err[256] = "";
	uint16_t port = free_port();
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	/* slirp shows host connections as coming from 10.0.2.2 */
	struct tcp_match syn = { GATEWAY_IP, GUEST_IP, 0, 8022, 0x02, 0x12 };
	int fd;

	snprintf(spec, sizeof(spec), "tcp::%u-:8022", port);
	TEST_ASSERT(net_hostfwd_parse(spec, &cfg.fwd[0], err, sizeof(err)) == 0, "%s", err);
	start(fx, &cfg);
	arp_for_gateway(fx);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	TEST_ASSERT(fd >= 0, "socket: %s", strerror(errno));
	TEST_ASSERT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
		    "connect to 127.0.0.1:%u: %s", port, strerror(errno));
	TEST_ASSERT(wait_frame(fx, is_tcp, &syn), "no SYN to 10.0.2.15:8022 within %d ms", WAIT_MS);
	close(fd);
}

static void test_hostfwd_on_busy_port_fails_clearly(void **state)
{
	struct fixture *fx = *state;
	struct net_slirp_config cfg = { .nfwd = 1 };
	char spec[64], want[160], err[256] = "";
	uint16_t port;
	int busy = loopback_socket(&port, true);

	(void)fx;
	snprintf(spec, sizeof(spec), "tcp::%u-:80", port);
	TEST_ASSERT(net_hostfwd_parse(spec, &cfg.fwd[0], err, sizeof(err)) == 0, "%s", err);
	TEST_ASSERT_NULL(net_slirp_create(&cfg, err, sizeof(err)));
	snprintf(want, sizeof(want),
		 "hostfwd tcp::%u-:80: cannot listen on 127.0.0.1:%u: Address already in use", port,
		 port);
	TEST_ASSERT(strcmp(err, want) == 0, "error '%s', want '%s'", err, want);

	/* Two forwards of one port: the second finds it busy. */
	cfg.fwd[1] = cfg.fwd[0];
	cfg.nfwd = 2;
	close(busy);
	TEST_ASSERT_NULL(net_slirp_create(&cfg, err, sizeof(err)));
	TEST_ASSERT(strstr(err, "Address already in use"), "error '%s'", err);
}

static void test_hostfwd_guest_address_checked(void **state)
{
	static const char *const bad[] = { "tcp::1-10.0.3.15:22", "tcp::1-10.0.2.2:22",
					   "tcp::1-10.0.2.3:22", "tcp::1-10.0.2.255:22",
					   "tcp::1-10.0.2.0:22" };
	struct net_slirp_config cfg = { .nfwd = 1 };
	char err[256] = "";

	(void)state;
	for (unsigned i = 0; i < ARRAY_LEN(bad); i++) {
		TEST_ASSERT(net_hostfwd_parse(bad[i], &cfg.fwd[0], err, sizeof(err)) == 0, "%s",
			    err);
		TEST_ASSERT_NULL(net_slirp_create(&cfg, err, sizeof(err)));
		TEST_ASSERT(strstr(err, "is not a guest's in 10.0.2.0/24"), "%s: error '%s'",
			    bad[i], err);
	}
	cfg.nfwd = NET_MAX_HOSTFWD + 1;
	TEST_ASSERT_NULL(net_slirp_create(&cfg, err, sizeof(err)));
	TEST_ASSERT(strstr(err, "more than"), "error '%s'", err);
}

/* The guest opens a connection to 10.0.2.2:port, where the test listens on 127.0.0.1. */
static void connect_from_guest(bool restrict_host)
{
	struct fixture *fx = NULL;
	struct net_slirp_config cfg = { .restrict_host = restrict_host };
	uint16_t port;
	int lfd = loopback_socket(&port, true);
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	uint8_t f[64];
	struct tcp_match reply = { GATEWAY_IP, GUEST_IP, port, 40000, 0, 0 };

	TEST_ASSERT_EQ(setup((void **)&fx), 0);
	start(fx, &cfg);
	arp_for_gateway(fx);
	TEST_ASSERT_EQ(send_frame(fx, f, build_tcp_syn(f, GATEWAY_IP, 40000, port)), 0);
	if (restrict_host) {
		reply.flags = reply.flags_mask = 0x04; /* RST */
		TEST_ASSERT(wait_frame(fx, is_tcp, &reply), "restricted: no RST within %d ms",
			    WAIT_MS);
		TEST_ASSERT_EQ(poll(&pfd, 1, 0), 0);
	} else {
		int cfd;

		TEST_ASSERT(poll(&pfd, 1, WAIT_MS) == 1, "slirp did not connect to 127.0.0.1:%u",
			    port);
		cfd = accept(lfd, NULL, NULL);
		TEST_ASSERT(cfd >= 0, "accept: %s", strerror(errno));
		reply.flags = reply.flags_mask = 0x12; /* SYN+ACK */
		TEST_ASSERT(wait_frame(fx, is_tcp, &reply), "no SYN+ACK within %d ms", WAIT_MS);
		close(cfd);
	}
	close(lfd);
	teardown((void **)&fx);
}

static void test_guest_reaches_host_loopback(void **state)
{
	(void)state;
	connect_from_guest(false);
}

static void test_restrict_refuses_guest_connections(void **state)
{
	(void)state;
	connect_from_guest(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostfwd_rejects_hostile_specs),
		cmocka_unit_test(test_hostfwd_errors_fit_any_buffer),
		cmocka_unit_test(test_hostfwd_accepts_good_specs),
		cmocka_unit_test_setup_teardown(test_runt_and_oversized_frames_dropped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_arp_for_gateway_is_answered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frame_gathered_from_iovecs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dhcp_discover_gets_offer_of_10_0_2_15, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_router_solicitation_gets_fec0_prefix, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_rx_after_detach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_instances_share_one_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostfwd_connect_reaches_guest_as_syn, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hostfwd_on_busy_port_fails_clearly, setup,
						teardown),
		cmocka_unit_test(test_hostfwd_guest_address_checked),
		cmocka_unit_test(test_guest_reaches_host_loopback),
		cmocka_unit_test(test_restrict_refuses_guest_connections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
