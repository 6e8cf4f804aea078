/*
 * Unit tests for the TAP backend: net_tap_create()'s checks and errors
 * first, then frames both ways through a real tap interface. main() moves
 * the whole test process into a network namespace of its own, so that the
 * taps it creates are invisible to the host and vanish with it. The host
 * side of the tap is an AF_PACKET socket bound to it: it sees the frames
 * send() writes and transmits the frames recv() reads.
 *
 * Without /dev/net/tun or a private network namespace, the tests that need
 * them print why and are skipped (the executable then exits 77, SKIP for
 * meson); HUTCH_REQUIRE_TAP=1 turns that into a failure.
 */
#include "test_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "devices/net/tap.h"

#define TAP_NAME   "hutchtap0"
#define ETHERTYPE  0x88b5 /* IEEE 802 local experimental: nothing else sends it */
#define HDR	   NET_VNET_HDR_SIZE
#define WAIT_MS	   2000 /* for a frame that must arrive */
#define CHILD_SKIP 77	/* a child's exit code: the test cannot run here */

/* Why the tests that need a tap cannot run here; NULL when they can. */
static char tap_unavailable_buf[256];
static const char *tap_unavailable;
static bool tap_skipped;

/* ------------------------------------------------------------ helpers ---- */

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = -1;

	if (fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text))
		r = 0;
	if (fd >= 0)
		close(fd);
	return r;
}

/* Namespaces of our own (flags): as root, or else inside a user namespace as its root. */
static int enter_namespaces(int flags)
{
	char map[64];
	uid_t uid = getuid();
	gid_t gid = getgid();

	if (unshare(flags) == 0)
		return 0;
	if (unshare(CLONE_NEWUSER | flags) < 0)
		return -1;
	/* user_namespaces(7): setgroups must be denied before an unprivileged gid_map. */
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
	if (write_file("/proc/self/setgroups", "deny") < 0 ||
	    write_file("/proc/self/uid_map", map) < 0)
		return -1;
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
	return write_file("/proc/self/gid_map", map);
}

/* Once, before any test: the private network namespace, and whether taps work in it. */
static void tap_probe(void)
{
	struct ifreq ifr = { 0 };
	int fd;

	if (enter_namespaces(CLONE_NEWNET) < 0) {
		snprintf(tap_unavailable_buf, sizeof(tap_unavailable_buf),
			 "cannot enter a private network namespace: %s", strerror(errno));
		tap_unavailable = tap_unavailable_buf;
		return;
	}
	/* No IPv6 router solicitations or MLD reports on our taps: less noise. */
	(void)write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(tap_unavailable_buf, sizeof(tap_unavailable_buf),
			 "cannot open /dev/net/tun: %s", strerror(errno));
		tap_unavailable = tap_unavailable_buf;
		return;
	}
	strcpy(ifr.ifr_name, "hutchprobe0");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		snprintf(tap_unavailable_buf, sizeof(tap_unavailable_buf),
			 "cannot create a tap in a private network namespace: TUNSETIFF: %s",
			 strerror(errno));
		tap_unavailable = tap_unavailable_buf;
	}
	close(fd);
}

/* Skips the test where there is no tap, or fails it with HUTCH_REQUIRE_TAP=1. */
static void require_tap(void)
{
	const char *req = getenv("HUTCH_REQUIRE_TAP");

	if (!tap_unavailable)
		return;
	if (req && !strcmp(req, "1"))
		fail_msg("HUTCH_REQUIRE_TAP=1, but no tap here: %s", tap_unavailable);
	print_message("[   SKIP   ] no tap here: %s (HUTCH_REQUIRE_TAP=1 makes this fail)\n",
		      tap_unavailable);
	tap_skipped = true;
	skip();
}

/*
 * Runs fn in a child process, for what must not leak into the test process
 * (mount namespaces, dropped capabilities). The child cannot use cmocka's
 * assertions: it returns 0, CHILD_SKIP, or 1 after printing the failure.
 */
static int run_in_child(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	TEST_ASSERT(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		_exit(fn());
	TEST_ASSERT_EQ(waitpid(pid, &status, 0), pid);
	TEST_ASSERT(WIFEXITED(status), "child died, status %#x", status);
	return WEXITSTATUS(status);
}

#define CHILD_CHECK(cond, ...)                                                            \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "child: %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                     \
			fprintf(stderr, "\n");                                            \
			return 1;                                                         \
		}                                                                         \
	} while (0)

static void assert_child_ok(int rc)
{
	if (rc == CHILD_SKIP) {
		print_message("[   SKIP   ] not possible here (see above)\n");
		skip();
	}
	TEST_ASSERT(rc == 0, "child failed with %d: see its message above", rc);
}

#define ASSERT_ERR(err, expected) \
	TEST_ASSERT(!strcmp(err, expected), "error is \"%s\", expected \"%s\"", err, expected)

/* net_tap_create() must fail with errno e and exactly the message expected. */
static void assert_create_fails(const char *ifname, int e, const char *expected)
{
	char err[256] = "untouched";
	struct net_backend *be;

	errno = 0;
	be = net_tap_create(ifname, err, sizeof(err));
	TEST_ASSERT(!be, "net_tap_create(\"%s\") succeeded", ifname ? ifname : "(null)");
	TEST_ASSERT(errno == e, "errno is %d (%s), expected %d (%s)", errno, strerror(errno), e,
		    strerror(e));
	ASSERT_ERR(err, expected);
}

static struct net_backend *tap_create(const char *ifname)
{
	char err[256] = "";
	struct net_backend *be = net_tap_create(ifname, err, sizeof(err));

	TEST_ASSERT(be, "net_tap_create(\"%s\"): %s", ifname, err);
	return be;
}

/* A tap (or tun) the way `ip tuntap add ... user UID` makes one: persistent, no fd open. */
static void make_persistent(const char *ifname, short type, unsigned long offloads)
{
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	TEST_ASSERT(fd >= 0, "open /dev/net/tun: %s", strerror(errno));
	strcpy(ifr.ifr_name, ifname);
	ifr.ifr_flags = (short)(type | IFF_NO_PI | (offloads ? IFF_VNET_HDR : 0));
	TEST_ASSERT(ioctl(fd, TUNSETIFF, &ifr) == 0, "TUNSETIFF %s: %s", ifname, strerror(errno));
	TEST_ASSERT(ioctl(fd, TUNSETOFFLOAD, offloads) == 0, "TUNSETOFFLOAD: %s", strerror(errno));
	TEST_ASSERT(ioctl(fd, TUNSETOWNER, (unsigned long)geteuid()) == 0, "TUNSETOWNER: %s",
		    strerror(errno));
	TEST_ASSERT(ioctl(fd, TUNSETPERSIST, 1UL) == 0, "TUNSETPERSIST: %s", strerror(errno));
	close(fd);
}

/* Deletes a persistent tap or tun, as `ip tuntap del` does. */
static void delete_persistent(const char *ifname, short type)
{
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	strcpy(ifr.ifr_name, ifname);
	ifr.ifr_flags = (short)(type | IFF_NO_PI);
	if (ioctl(fd, TUNSETIFF, &ifr) == 0)
		(void)ioctl(fd, TUNSETPERSIST, 0UL);
	close(fd);
}

static void set_up(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	TEST_ASSERT(s >= 0, "socket: %s", strerror(errno));
	strcpy(ifr.ifr_name, ifname);
	TEST_ASSERT(ioctl(s, SIOCGIFFLAGS, &ifr) == 0, "SIOCGIFFLAGS: %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	TEST_ASSERT(ioctl(s, SIOCSIFFLAGS, &ifr) == 0, "SIOCSIFFLAGS: %s", strerror(errno));
	close(s);
}

/* An ethtool flag of the interface (ETHTOOL_GTXCSUM, ETHTOOL_GTSO). */
static bool ethtool_flag(const char *ifname, uint32_t cmd)
{
	struct ethtool_value ev = { .cmd = cmd };
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	TEST_ASSERT(s >= 0, "socket: %s", strerror(errno));
	strcpy(ifr.ifr_name, ifname);
	ifr.ifr_data = (char *)&ev;
	TEST_ASSERT(ioctl(s, SIOCETHTOOL, &ifr) == 0, "SIOCETHTOOL %#x: %s", cmd, strerror(errno));
	close(s);
	return ev.data;
}

/* A broadcast test frame of len bytes (at least ETH_HLEN), its payload a pattern from seed. */
static void make_frame(uint8_t *f, size_t len, uint8_t seed)
{
	static const uint8_t head[ETH_HLEN] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff,	      0x02,
		0,    0,    0,	  0,	0,    ETHERTYPE >> 8, ETHERTYPE & 0xff
	};

	memcpy(f, head, ETH_HLEN);
	f[11] = seed;
	for (size_t i = ETH_HLEN; i < len; i++)
		f[i] = (uint8_t)(i * 7 + seed);
}

static bool is_test_frame(const uint8_t *f, size_t len)
{
	return len >= ETH_HLEN && f[12] == ETHERTYPE >> 8 && f[13] == (ETHERTYPE & 0xff);
}

static bool wait_readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) == 1;
}

/* --------------------------------------------------------------- fixture ---- */

/* A tap that is up, and a packet socket on its host side. */
struct fixture {
	struct net_backend *be;
	int ifindex;
	int psock;
};

static int fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->psock = -1;
	*state = f;
	if (tap_unavailable)
		return 0; /* the test skips */
	f->be = tap_create(TAP_NAME);
	f->ifindex = (int)if_nametoindex(TAP_NAME);
	TEST_ASSERT(f->ifindex > 0, "if_nametoindex(%s): %s", TAP_NAME, strerror(errno));
	set_up(TAP_NAME);
	f->psock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	TEST_ASSERT(f->psock >= 0, "socket(AF_PACKET): %s", strerror(errno));
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = f->ifindex };
	TEST_ASSERT(bind(f->psock, (struct sockaddr *)&sll, sizeof(sll)) == 0, "bind: %s",
		    strerror(errno));
	return 0;
}

static int fixture_teardown(void **state)
{
	struct fixture *f = *state;

	if (f->psock >= 0)
		close(f->psock);
	if (f->be)
		f->be->ops->destroy(f->be);
	free(f);
	return 0;
}

/* The host side transmits frame on the tap: it is for recv(). */
static void host_send(struct fixture *f, const uint8_t *frame, size_t len)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = f->ifindex };
	ssize_t n = sendto(f->psock, frame, len, 0, (struct sockaddr *)&sll, sizeof(sll));

	TEST_ASSERT(n == (ssize_t)len, "sendto: %zd, %s", n, strerror(errno));
}

/* The next test frame the host side received from send(); its length, or 0 after WAIT_MS. */
static size_t host_recv(struct fixture *f, uint8_t *buf, size_t cap, int ms)
{
	for (;;) {
		struct sockaddr_ll sll;
		socklen_t sl = sizeof(sll);
		ssize_t n;

		if (!wait_readable(f->psock, ms))
			return 0;
		n = recvfrom(f->psock, buf, cap, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&sll,
			     &sl);
		TEST_ASSERT(n >= 0, "recvfrom: %s", strerror(errno));
		TEST_ASSERT((size_t)n <= cap, "host got a %zd-byte frame, more than %zu", n, cap);
		if (sll.sll_pkttype != PACKET_OUTGOING && is_test_frame(buf, (size_t)n))
			return (size_t)n;
	}
}

/* recv() into iov until a test frame comes, skipping others (IPv6 noise); its result. */
static ssize_t guest_recv(struct fixture *f, const struct iovec *iov, unsigned iovcnt, int ms)
{
	for (;;) {
		ssize_t n;
		uint8_t head[HDR + ETH_HLEN];
		size_t got = 0;

		if (!wait_readable(f->be->rx_fd, ms))
			return -EAGAIN;
		n = f->be->ops->recv(f->be, iov, iovcnt);
		if (n < 0)
			return n;
		for (unsigned i = 0; i < iovcnt && got < sizeof(head); i++) {
			size_t k = iov[i].iov_len < sizeof(head) - got ? iov[i].iov_len
								       : sizeof(head) - got;

			memcpy(head + got, iov[i].iov_base, k);
			got += k;
		}
		if (got == sizeof(head) && is_test_frame(head + HDR, ETH_HLEN))
			return n;
	}
}

/* send() of a header and frame split over three iovecs. */
static int guest_send(struct fixture *f, const struct net_vnet_hdr *h, const uint8_t *frame,
		      size_t len)
{
	struct iovec iov[3] = {
		{ (void *)h, HDR },
		{ (void *)frame, len / 3 },
		{ (void *)(frame + len / 3), len - len / 3 },
	};

	return f->be->ops->send(f->be, iov, 3);
}

/* -------------------------------------------------------------- hostile ---- */

static void test_name_missing_or_empty(void **state)
{
	(void)state;
	assert_create_fails(NULL, EINVAL, "tap: no interface name");
	assert_create_fails("", EINVAL, "tap: empty interface name");
}

static void test_name_too_long(void **state)
{
	char huge[4096];

	(void)state;
	/* IFNAMSIZ is 16 with the NUL: 15 characters at most */
	assert_create_fails("0123456789abcdef", EINVAL,
			    "0123456789abcdef: interface name longer than 15 characters");
	memset(huge, 'x', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	TEST_ASSERT_NULL(net_tap_create(huge, NULL, 0));
	TEST_ASSERT_EQ(errno, EINVAL);
}

static void test_name_bad_characters(void **state)
{
	static const char *const names[] = { "tap/0", "tap:0", "tap 0",	  "tap\t0", "tap\n",
					     ".",     "..",    "\x1b[2J", "tap\x7f" };

	(void)state;
	for (unsigned i = 0; i < ARRAY_LEN(names); i++) {
		char err[256] = "";

		errno = 0;
		TEST_ASSERT_NULL(net_tap_create(names[i], err, sizeof(err)));
		TEST_ASSERT_EQ(errno, EINVAL);
		TEST_ASSERT(strstr(err, "interface name"), "name %u: error is \"%s\"", i, err);
	}
}

/* err may be NULL or short: the message is cut, always terminated. */
static void test_error_buffer(void **state)
{
	char err[8];

	(void)state;
	TEST_ASSERT_NULL(net_tap_create("", NULL, 0));
	TEST_ASSERT_NULL(net_tap_create("", NULL, 100));
	memset(err, 'z', sizeof(err));
	TEST_ASSERT_NULL(net_tap_create("", err, 0));
	TEST_ASSERT_EQ(err[0], 'z');
	TEST_ASSERT_NULL(net_tap_create("", err, sizeof(err)));
	ASSERT_ERR(err, "tap: em");
}

static int child_no_tun_device(void)
{
	char err[256] = "";
	struct net_backend *be;

	/* an empty /dev/net, seen only in this child's mount namespace */
	if (access("/dev/net", F_OK) == 0 &&
	    (enter_namespaces(CLONE_NEWNS) < 0 ||
	     mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	     mount("hutch-test", "/dev/net", "tmpfs", 0, NULL) < 0)) {
		fprintf(stderr, "cannot hide /dev/net/tun: %s\n", strerror(errno));
		return CHILD_SKIP;
	}
	errno = 0;
	be = net_tap_create("tap0", err, sizeof(err));
	CHILD_CHECK(!be, "created a tap without /dev/net/tun");
	CHILD_CHECK(errno == ENOENT, "errno %d", errno);
	CHILD_CHECK(!strcmp(err, "tap0: cannot open /dev/net/tun: No such file or directory"),
		    "error is \"%s\"", err);
	return 0;
}

static void test_no_tun_device(void **state)
{
	(void)state;
	assert_child_ok(run_in_child(child_no_tun_device));
}

/* Without CAP_NET_ADMIN, TUNSETIFF cannot create a tap: the hint says how to. */
static int child_not_permitted(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	char err[256] = "";
	struct net_backend *be;

	if (syscall(SYS_capget, &hdr, data) < 0)
		return CHILD_SKIP;
	data[0].effective &= ~(1u << CAP_NET_ADMIN);
	data[0].permitted &= ~(1u << CAP_NET_ADMIN);
	CHILD_CHECK(syscall(SYS_capset, &hdr, data) == 0, "capset: %s", strerror(errno));
	errno = 0;
	be = net_tap_create(TAP_NAME, err, sizeof(err));
	CHILD_CHECK(!be, "created a tap without CAP_NET_ADMIN");
	CHILD_CHECK(errno == EPERM, "errno %d (%s)", errno, strerror(errno));
	CHILD_CHECK(!strcmp(err, TAP_NAME ": TUNSETIFF: Operation not permitted (create it with "
					  "`ip tuntap add " TAP_NAME " mode tap user $USER`)"),
		    "error is \"%s\"", err);
	return 0;
}

static void test_not_permitted(void **state)
{
	(void)state;
	require_tap();
	assert_child_ok(run_in_child(child_not_permitted));
}

/* A single-queue tap takes one file: a second VM on it is refused. */
static void test_busy(void **state)
{
	struct net_backend *be;

	(void)state;
	require_tap();
	be = tap_create(TAP_NAME);
	assert_create_fails(TAP_NAME, EBUSY,
			    TAP_NAME ": TUNSETIFF: Device or resource busy (in use by another "
				     "process?)");
	be->ops->destroy(be);
	/* and free again afterwards */
	be = tap_create(TAP_NAME);
	be->ops->destroy(be);
}

static void test_not_a_tap(void **state)
{
	(void)state;
	require_tap();
	assert_create_fails("lo", EINVAL,
			    "lo: TUNSETIFF: Invalid argument (lo exists, but is not a single-queue "
			    "tap interface)");
	make_persistent("hutchtun0", IFF_TUN, 0);
	assert_create_fails("hutchtun0", EINVAL,
			    "hutchtun0: TUNSETIFF: Invalid argument (hutchtun0 exists, but is not "
			    "a single-queue tap interface)");
	delete_persistent("hutchtun0", IFF_TUN);
	TEST_ASSERT_EQ(if_nametoindex("hutchtun0"), 0);
}

/* Frames from the guest are the kernel's to check: it refuses bad ones, and the tap goes on. */
static void test_send_hostile(void **state)
{
	struct fixture *f = *state;
	static uint8_t frame[NET_MAX_FRAME + 1], got[4096];
	struct net_vnet_hdr h = { 0 };
	struct iovec iov[IOV_MAX + 1];
	size_t n;
	int ret;

	require_tap();
	make_frame(frame, sizeof(frame), 1);
	/* shorter than an Ethernet header */
	TEST_ASSERT_EQ(guest_send(f, &h, frame, 0), -EINVAL);
	TEST_ASSERT_EQ(guest_send(f, &h, frame, ETH_HLEN - 1), -EINVAL);
	/* too long: refused before the kernel sees it */
	TEST_ASSERT_EQ(guest_send(f, &h, frame, NET_MAX_FRAME + 1), -EMSGSIZE);
	/* lengths that overflow: never touched */
	iov[0] = (struct iovec){ &h, HDR };
	iov[1] = (struct iovec){ frame, SIZE_MAX - 4 };
	TEST_ASSERT_EQ(f->be->ops->send(f->be, iov, 2), -EMSGSIZE);
	/* more iovecs than writev takes */
	for (unsigned i = 0; i < ARRAY_LEN(iov); i++)
		iov[i] = (struct iovec){ frame, 1 };
	iov[0] = (struct iovec){ &h, HDR };
	TEST_ASSERT_EQ(f->be->ops->send(f->be, iov, IOV_MAX + 1), -EINVAL);
	/* an unknown GSO type */
	h.gso_type = 0x55;
	TEST_ASSERT_EQ(guest_send(f, &h, frame, 100), -EINVAL);
	/* a checksum to fill in past the end of the frame */
	h = (struct net_vnet_hdr){ .flags = 1, .csum_start = 90, .csum_offset = 16 };
	TEST_ASSERT_EQ(guest_send(f, &h, frame, 100), -EINVAL);
	h = (struct net_vnet_hdr){ .flags = 1, .csum_start = 0xffff, .csum_offset = 0xffff };
	TEST_ASSERT_EQ(guest_send(f, &h, frame, 100), -EINVAL);
	/* headers longer than the frame */
	h = (struct net_vnet_hdr){ .hdr_len = 200 };
	TEST_ASSERT_EQ(guest_send(f, &h, frame, 100), -EINVAL);
	/*
	 * TCPv4 segmentation of a frame that is not IPv4 at all: the kernel
	 * takes it (SKB_GSO_DODGY: checked when segmented) and the host side
	 * sees it, as seed 9.
	 */
	h = (struct net_vnet_hdr){ .flags = 1,
				   .gso_type = 1,
				   .hdr_len = 54,
				   .gso_size = 1000,
				   .csum_start = 34,
				   .csum_offset = 16 };
	make_frame(frame, 3000, 9);
	ret = guest_send(f, &h, frame, 3000);
	TEST_ASSERT(ret == 0 || ret == -EINVAL, "send: %d", ret);

	/* none of those reached the host; a good frame still does */
	h = (struct net_vnet_hdr){ 0 };
	make_frame(frame, 60, 2);
	TEST_ASSERT_EQ(guest_send(f, &h, frame, 60), 0);
	do
		n = host_recv(f, got, sizeof(got), WAIT_MS);
	while (n == 3000 && got[11] == 9);
	TEST_ASSERT_EQ(n, 60);
	TEST_ASSERT_EQ(got[11], 2);
	TEST_ASSERT_EQ(host_recv(f, got, sizeof(got), 100), 0);
}

/* Buffers too small for a header: refused without losing the frame. */
static void test_recv_bad_buffers(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[100], buf[200];
	struct iovec iov[IOV_MAX + 1];

	require_tap();
	make_frame(frame, sizeof(frame), 3);
	host_send(f, frame, sizeof(frame));
	TEST_ASSERT(wait_readable(f->be->rx_fd, WAIT_MS), "no frame for recv()");
	TEST_ASSERT_EQ(f->be->ops->recv(f->be, iov, 0), -EINVAL);
	iov[0] = (struct iovec){ buf, HDR };
	TEST_ASSERT_EQ(f->be->ops->recv(f->be, iov, 1), -EINVAL);
	iov[0] = (struct iovec){ buf, HDR + ETH_HLEN - 1 };
	TEST_ASSERT_EQ(f->be->ops->recv(f->be, iov, 1), -EINVAL);
	iov[0] = (struct iovec){ buf, 4 };
	iov[1] = (struct iovec){ buf, SIZE_MAX - 2 };
	TEST_ASSERT_EQ(f->be->ops->recv(f->be, iov, 2), -EINVAL);
	for (unsigned i = 0; i < ARRAY_LEN(iov); i++)
		iov[i] = (struct iovec){ buf, 1 };
	TEST_ASSERT_EQ(f->be->ops->recv(f->be, iov, IOV_MAX + 1), -EINVAL);
	/* the frame is still there */
	iov[0] = (struct iovec){ buf, sizeof(buf) };
	TEST_ASSERT_EQ(guest_recv(f, iov, 1, WAIT_MS), HDR + sizeof(frame));
	TEST_ASSERT(!memcmp(buf + HDR, frame, sizeof(frame)), "frame differs");
}

/* A frame longer than the buffers is dropped, not cut: -EMSGSIZE, and the next one is fine. */
static void test_recv_oversized(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[1000], buf[1100];
	struct iovec iov = { buf, HDR + 100 };

	require_tap();
	make_frame(frame, sizeof(frame), 4);
	host_send(f, frame, sizeof(frame));
	TEST_ASSERT_EQ(guest_recv(f, &iov, 1, WAIT_MS), -EMSGSIZE);
	TEST_ASSERT_EQ(f->be->ops->recv(f->be, &iov, 1), -EAGAIN);
	/* exactly the size fits */
	host_send(f, frame, sizeof(frame));
	iov.iov_len = HDR + sizeof(frame);
	TEST_ASSERT_EQ(guest_recv(f, &iov, 1, WAIT_MS), HDR + sizeof(frame));
	TEST_ASSERT(!memcmp(buf + HDR, frame, sizeof(frame)), "frame differs");
}

/* ------------------------------------------------------------ working ---- */

static void test_create(void **state)
{
	struct net_backend *be, fake = { 0 };
	struct ifreq ifr = { 0 };
	int size = 0, fl;

	(void)state;
	require_tap();
	be = tap_create(TAP_NAME);
	TEST_ASSERT(!strcmp(be->ops->name, "tap"), "name %s", be->ops->name);
	TEST_ASSERT(be->vnet_hdr, "no virtio-net header");
	TEST_ASSERT(be->rx_fd >= 0, "rx_fd %d", be->rx_fd);
	TEST_ASSERT(be->ops->send && be->ops->recv && be->ops->set_offload, "missing ops");
	TEST_ASSERT(!strcmp(net_tap_ifname(be), TAP_NAME), "ifname %s", net_tap_ifname(be));
	TEST_ASSERT_NULL(net_tap_ifname(&fake));
	TEST_ASSERT_NULL(net_tap_ifname(NULL));
	fl = fcntl(be->rx_fd, F_GETFL);
	TEST_ASSERT(fl & O_NONBLOCK, "rx_fd blocks");
	TEST_ASSERT(fcntl(be->rx_fd, F_GETFD) & FD_CLOEXEC, "rx_fd is not close-on-exec");
	TEST_ASSERT(ioctl(be->rx_fd, TUNGETIFF, &ifr) == 0, "TUNGETIFF: %s", strerror(errno));
	TEST_ASSERT_EQ(ifr.ifr_flags & (IFF_TUN | IFF_TAP | IFF_NO_PI | IFF_VNET_HDR),
		       IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
	TEST_ASSERT(ioctl(be->rx_fd, TUNGETVNETHDRSZ, &size) == 0, "TUNGETVNETHDRSZ: %s",
		    strerror(errno));
	TEST_ASSERT_EQ(size, NET_VNET_HDR_SIZE);
	TEST_ASSERT(!ethtool_flag(TAP_NAME, ETHTOOL_GTXCSUM), "offloads on from the start");
	TEST_ASSERT_EQ(be->ops->attach(be, NULL), 0);
	be->ops->detach(be);
	TEST_ASSERT(if_nametoindex(TAP_NAME) > 0, "no %s", TAP_NAME);
	be->ops->destroy(be);
	/* not persistent: the interface goes with the file */
	TEST_ASSERT_EQ(if_nametoindex(TAP_NAME), 0);
}

/* "%d" in the name: the kernel picks a free number. */
static void test_name_pattern(void **state)
{
	struct net_backend *a, *b;

	(void)state;
	require_tap();
	a = tap_create("hutch%d");
	b = tap_create("hutch%d");
	TEST_ASSERT(!strncmp(net_tap_ifname(a), "hutch", 5) && !strchr(net_tap_ifname(a), '%'),
		    "name %s", net_tap_ifname(a));
	TEST_ASSERT(strcmp(net_tap_ifname(a), net_tap_ifname(b)), "both are %s", net_tap_ifname(a));
	TEST_ASSERT(if_nametoindex(net_tap_ifname(b)) > 0, "no %s", net_tap_ifname(b));
	a->ops->destroy(a);
	b->ops->destroy(b);
}

/* An existing persistent tap: used as it is, offloads a previous user set cleared, left behind. */
static void test_persistent(void **state)
{
	struct net_backend *be;

	(void)state;
	require_tap();
	make_persistent("hutchpers0", IFF_TAP, TUN_F_CSUM | TUN_F_TSO4);
	TEST_ASSERT(ethtool_flag("hutchpers0", ETHTOOL_GTSO), "setup: TSO is off");
	be = tap_create("hutchpers0");
	TEST_ASSERT(be->vnet_hdr, "no virtio-net header");
	TEST_ASSERT(!ethtool_flag("hutchpers0", ETHTOOL_GTXCSUM), "checksum offload left on");
	TEST_ASSERT(!ethtool_flag("hutchpers0", ETHTOOL_GTSO), "TSO left on");
	be->ops->destroy(be);
	TEST_ASSERT(if_nametoindex("hutchpers0") > 0, "the persistent tap went away");
	delete_persistent("hutchpers0", IFF_TAP);
	TEST_ASSERT_EQ(if_nametoindex("hutchpers0"), 0);
}

static void test_recv_empty(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[2048];
	struct iovec iov = { buf, sizeof(buf) };

	require_tap();
	TEST_ASSERT_EQ(guest_recv(f, &iov, 1, 0), -EAGAIN);
	TEST_ASSERT_EQ(f->be->ops->recv(f->be, &iov, 1), -EAGAIN);
}

/* A tap that is down (as a new one starts): nothing to read, and frames sent are refused. */
static void test_down(void **state)
{
	uint8_t buf[HDR + 60] = { 0 };
	struct iovec iov = { buf, sizeof(buf) };
	struct net_backend *be;

	(void)state;
	require_tap();
	be = tap_create("hutchdown0");
	TEST_ASSERT_EQ(be->ops->recv(be, &iov, 1), -EAGAIN);
	make_frame(buf + HDR, 60, 10);
	TEST_ASSERT_EQ(be->ops->send(be, &iov, 1), -EIO);
	be->ops->destroy(be);
}

/* send(): the host sees the frame without the header, gathered from the iovecs. */
static void test_send(void **state)
{
	struct fixture *f = *state;
	static uint8_t frame[1514], got[2048];
	struct net_vnet_hdr h = { 0 };
	struct iovec one[1];
	uint8_t both[HDR + 60];

	require_tap();
	make_frame(frame, sizeof(frame), 5);
	TEST_ASSERT_EQ(guest_send(f, &h, frame, sizeof(frame)), 0);
	TEST_ASSERT_EQ(host_recv(f, got, sizeof(got), WAIT_MS), sizeof(frame));
	TEST_ASSERT(!memcmp(got, frame, sizeof(frame)), "frame differs");
	/* header and a minimum-size frame in one buffer */
	memset(both, 0, HDR);
	make_frame(both + HDR, 60, 6);
	one[0] = (struct iovec){ both, sizeof(both) };
	TEST_ASSERT_EQ(f->be->ops->send(f->be, one, 1), 0);
	TEST_ASSERT_EQ(host_recv(f, got, sizeof(got), WAIT_MS), 60);
	TEST_ASSERT(!memcmp(got, both + HDR, 60), "frame differs");
}

/* A GSO frame as a guest sends one: the kernel takes it whole, up to 64 KiB. */
static void test_send_gso(void **state)
{
	struct fixture *f = *state;
	static uint8_t frame[14 + 20 + 20 + 30000], got[65536];
	struct net_vnet_hdr h = { .flags = 1,	 /* NEEDS_CSUM */
				  .gso_type = 1, /* TCPV4 */
				  .hdr_len = 54,
				  .gso_size = 1448,
				  .csum_start = 34,
				  .csum_offset = 16 };
	uint16_t ip_len = sizeof(frame) - 14;
	uint8_t *ip = frame + 14, *tcp = ip + 20;

	require_tap();
	make_frame(frame, sizeof(frame), 7);
	memcpy(frame, "\x02\x00\x00\x00\x00\x02", 6); /* unicast, to nobody */
	frame[12] = 0x08, frame[13] = 0x00;	      /* IPv4 */
	memset(ip, 0, 40);
	ip[0] = 0x45, ip[2] = (uint8_t)(ip_len >> 8), ip[3] = (uint8_t)ip_len;
	ip[8] = 64, ip[9] = 6; /* TTL, TCP */
	memcpy(ip + 12, "\x0a\x00\x00\x02\x0a\x00\x00\x01", 8);
	tcp[0] = 0x30, tcp[1] = 0x39, tcp[2] = 0x00, tcp[3] = 0x50; /* 12345 -> 80 */
	tcp[12] = 0x50, tcp[13] = 0x18;				    /* 20 bytes, PSH ACK */
	TEST_ASSERT_EQ(guest_send(f, &h, frame, sizeof(frame)), 0);
	/* the packet socket sees the whole 30 KB segment, before any segmentation */
	for (;;) {
		struct sockaddr_ll sll;
		socklen_t sl = sizeof(sll);
		ssize_t n;

		TEST_ASSERT(wait_readable(f->psock, WAIT_MS), "the GSO frame did not arrive");
		n = recvfrom(f->psock, got, sizeof(got), MSG_DONTWAIT, (struct sockaddr *)&sll,
			     &sl);
		TEST_ASSERT(n >= 0, "recvfrom: %s", strerror(errno));
		if (sll.sll_pkttype == PACKET_OUTGOING || n < 40 || memcmp(got, frame, 6))
			continue;
		TEST_ASSERT_EQ(n, sizeof(frame));
		TEST_ASSERT(!memcmp(got + 54, frame + 54, sizeof(frame) - 54), "payload differs");
		break;
	}
}

/* recv(): the frame the host transmitted, after a header, scattered over the iovecs. */
static void test_recv(void **state)
{
	struct fixture *f = *state;
	static struct iovec many[IOV_MAX];
	uint8_t split[HDR + 100];
	struct iovec two[2] = { { split, 11 }, { split + 11, sizeof(split) - 11 } };
	uint8_t frame[1514], data[2 * IOV_MAX];
	struct net_vnet_hdr h;
	struct iovec iov[3] = { { &h, HDR }, { data, 100 }, { data + 100, sizeof(data) - 100 } };

	require_tap();
	memset(&h, 0xaa, sizeof(h));
	make_frame(frame, sizeof(frame), 8);
	host_send(f, frame, sizeof(frame));
	TEST_ASSERT_EQ(guest_recv(f, iov, 3, WAIT_MS), HDR + sizeof(frame));
	TEST_ASSERT(!memcmp(data, frame, sizeof(frame)), "frame differs");
	/* nothing to do for the guest; num_buffers is 0 for the device to fill in */
	TEST_ASSERT_EQ(h.flags, 0);
	TEST_ASSERT_EQ(h.gso_type, 0);
	TEST_ASSERT_EQ(h.hdr_len | h.gso_size | h.csum_start | h.csum_offset, 0);
	TEST_ASSERT_EQ(h.num_buffers, 0);
	TEST_ASSERT_EQ(guest_recv(f, iov, 3, 0), -EAGAIN);
	/* num_buffers split over two iovecs, still zeroed (Linux 6.1 leaves it alone) */
	memset(split, 0xaa, sizeof(split));
	make_frame(frame, 60, 11);
	host_send(f, frame, 60);
	TEST_ASSERT_EQ(guest_recv(f, two, 2, WAIT_MS), HDR + 60);
	TEST_ASSERT_EQ(split[10] | split[11], 0);
	TEST_ASSERT_EQ(split[9], 0);
	TEST_ASSERT(!memcmp(split + HDR, frame, 60), "frame differs");
	/* as many iovecs as readv() takes, two bytes each */
	for (unsigned i = 0; i < IOV_MAX; i++)
		many[i] = (struct iovec){ data + 2 * i, 2 };
	make_frame(frame, 100, 9);
	host_send(f, frame, 100);
	TEST_ASSERT_EQ(guest_recv(f, many, IOV_MAX, WAIT_MS), HDR + 100);
	TEST_ASSERT(!memcmp(data + HDR, frame, 100), "frame differs");
	/* several queued frames come one per recv(), in order */
	for (uint8_t i = 0; i < 5; i++) {
		make_frame(frame, 60 + i, (uint8_t)(20 + i));
		host_send(f, frame, 60 + i);
	}
	for (uint8_t i = 0; i < 5; i++) {
		TEST_ASSERT_EQ(guest_recv(f, iov, 3, WAIT_MS), HDR + 60 + i);
		TEST_ASSERT_EQ(data[11], 20 + i);
	}
}

static void test_set_offload(void **state)
{
	struct fixture *f = *state;
	const struct net_backend_ops *ops;

	require_tap();
	ops = f->be->ops;
	TEST_ASSERT_EQ(ops->set_offload(f->be, 0x10), -EINVAL);
	TEST_ASSERT_EQ(ops->set_offload(f->be, ~0u), -EINVAL);
	TEST_ASSERT_EQ(ops->set_offload(f->be, NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 |
						       NET_OFFLOAD_TSO6 | NET_OFFLOAD_ECN),
		       0);
	TEST_ASSERT(ethtool_flag(TAP_NAME, ETHTOOL_GTXCSUM), "no checksum offload");
	TEST_ASSERT(ethtool_flag(TAP_NAME, ETHTOOL_GTSO), "no TSO");
	TEST_ASSERT_EQ(ops->set_offload(f->be, NET_OFFLOAD_CSUM), 0);
	TEST_ASSERT(ethtool_flag(TAP_NAME, ETHTOOL_GTXCSUM), "no checksum offload");
	TEST_ASSERT(!ethtool_flag(TAP_NAME, ETHTOOL_GTSO), "TSO without the guest");
	/* TSO without CSUM, ECN without TSO: the kernel refuses them, reduced to what it takes */
	TEST_ASSERT_EQ(ops->set_offload(f->be, NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6), 0);
	TEST_ASSERT(!ethtool_flag(TAP_NAME, ETHTOOL_GTXCSUM), "checksum offload left on");
	TEST_ASSERT(!ethtool_flag(TAP_NAME, ETHTOOL_GTSO), "TSO without checksums");
	TEST_ASSERT_EQ(ops->set_offload(f->be, NET_OFFLOAD_CSUM | NET_OFFLOAD_ECN), 0);
	TEST_ASSERT(!ethtool_flag(TAP_NAME, ETHTOOL_GTSO), "TSO");
	TEST_ASSERT_EQ(ops->set_offload(f->be, 0), 0);
	TEST_ASSERT(!ethtool_flag(TAP_NAME, ETHTOOL_GTXCSUM), "checksum offload left on");
	/* without a header there is nothing to offload with */
	f->be->vnet_hdr = false;
	TEST_ASSERT_EQ(ops->set_offload(f->be, NET_OFFLOAD_CSUM), -EOPNOTSUPP);
	TEST_ASSERT_EQ(ops->set_offload(f->be, 0), 0);
	f->be->vnet_hdr = true;
}

#define F(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* hostile first */
		cmocka_unit_test(test_name_missing_or_empty),
		cmocka_unit_test(test_name_too_long),
		cmocka_unit_test(test_name_bad_characters),
		cmocka_unit_test(test_error_buffer),
		cmocka_unit_test(test_no_tun_device),
		cmocka_unit_test(test_not_permitted),
		cmocka_unit_test(test_busy),
		cmocka_unit_test(test_not_a_tap),
		F(test_send_hostile),
		F(test_recv_bad_buffers),
		F(test_recv_oversized),
		/* then what must work */
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_name_pattern),
		cmocka_unit_test(test_persistent),
		cmocka_unit_test(test_down),
		F(test_recv_empty),
		F(test_send),
		F(test_send_gso),
		F(test_recv),
		F(test_set_offload),
	};
	int failed;

	tap_probe();
	if (tap_unavailable)
		print_message("test_tap: no tap here (%s): the tests that need one skip\n",
			      tap_unavailable);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	/* SKIP rather than OK for meson when the tap tests could not run */
	return failed ? failed : tap_skipped ? 77 : 0;
}
