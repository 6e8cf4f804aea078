/* TAP network backend: frames to and from a Linux tap interface through /dev/net/tun. */
#include "devices/net/tap.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vmm/iov.h"
#include "vmm/log.h"

#define TAP_DEVICE   "/dev/net/tun"
#define TAP_ETH_HLEN 14 /* the kernel's ETH_HLEN: no tap frame is shorter */

struct tap {
	struct net_backend be; /* first: the ops get &tap->be */
	char ifname[IFNAMSIZ]; /* as the kernel named it */
};

static const struct net_backend_ops tap_ops;

/*
 * Why the kernel would refuse ifname, or NULL. Its dev_valid_name() takes
 * 1 to IFNAMSIZ - 1 bytes other than '/', ':' and whitespace, and not "."
 * or ".."; control characters are refused here as well, being certainly a
 * mistake and bad to print.
 */
static const char *tap_name_problem(const char *ifname)
{
	size_t len = strnlen(ifname, IFNAMSIZ);

	if (len == 0)
		return "empty interface name";
	if (len >= IFNAMSIZ)
		return "interface name longer than 15 characters"; /* IFNAMSIZ - 1 */
	if (!strcmp(ifname, ".") || !strcmp(ifname, ".."))
		return "invalid interface name";
	for (const char *p = ifname; *p; p++) {
		if (*p == '/' || *p == ':' || !isgraph((unsigned char)*p))
			return "interface name with '/', ':', a space or a control character";
	}
	return NULL;
}

/* Sums the iovecs' lengths; false when the sum overflows. */
static bool tap_iov_len(const struct iovec *iov, unsigned iovcnt, size_t *len)
{
	size_t sum = 0;

	for (unsigned i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > SIZE_MAX - sum)
			return false;
		sum += iov[i].iov_len;
	}
	*len = sum;
	return true;
}

/* A hint to follow TUNSETIFF's error, for the usual causes; "" for others. */
static void tap_setiff_hint(int err, const char *ifname, char *hint, size_t len)
{
	switch (err) {
	case EPERM:
		snprintf(hint, len, " (create it with `ip tuntap add %s mode tap user $USER`)",
			 ifname);
		break;
	case EBUSY: snprintf(hint, len, " (in use by another process?)"); break;
	case EINVAL:
		snprintf(hint, len, " (%s exists, but is not a single-queue tap interface)",
			 ifname);
		break;
	default: hint[0] = '\0';
	}
}

/*
 * The 12-byte header of struct virtio_net_hdr_v1: virtio 1.x always has
 * num_buffers (virtio 1.2 §5.1.6), the kernel's default is the legacy
 * 10 bytes. The kernel reads and writes it in the host's byte order
 * unless told otherwise; virtio 1.x wants little-endian, which is the
 * same on x86 and arm64, so only a big-endian host needs TUNSETVNETLE.
 */
static int tap_set_vnet_hdr(int fd)
{
	int size = NET_VNET_HDR_SIZE;

	if (ioctl(fd, TUNSETVNETHDRSZ, &size) < 0)
		return -errno;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	{
		int le = 1;

		if (ioctl(fd, TUNSETVNETLE, &le) < 0)
			return -errno;
	}
#endif
	return 0;
}

/*
 * Opens /dev/net/tun and attaches it to ifname, with a virtio-net header
 * when *vnet_hdr and the kernel offers it; *vnet_hdr says whether it got
 * one. The fd, or -errno with err set. -EPROTONOSUPPORT: the kernel took
 * IFF_VNET_HDR but not our header's size or byte order (try without).
 */
static int tap_open(struct tap *tap, const char *ifname, bool *vnet_hdr, char *err, size_t errlen)
{
	unsigned int features = 0;
	struct ifreq ifr;
	int fd, r;

	fd = open(TAP_DEVICE, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		log_set_err(err, errlen, "%s: cannot open " TAP_DEVICE ": %s", ifname,
			    strerror(-r));
		return r;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifname, strlen(ifname)); /* shorter than IFNAMSIZ: NUL-terminated */
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	/* TUNSETIFF ignores flags it does not know: ask which it has. */
	if (*vnet_hdr && ioctl(fd, TUNGETFEATURES, &features) == 0 && (features & IFF_VNET_HDR))
		ifr.ifr_flags |= IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		char hint[128];

		r = -errno;
		tap_setiff_hint(-r, ifname, hint, sizeof(hint));
		log_set_err(err, errlen, "%s: TUNSETIFF: %s%s", ifname, strerror(-r), hint);
		goto err_close;
	}
	*vnet_hdr = ifr.ifr_flags & IFF_VNET_HDR;
	if (*vnet_hdr) {
		r = tap_set_vnet_hdr(fd);
		if (r < 0) {
			log_set_err(err, errlen, "%s: cannot set up the virtio-net header: %s",
				    ifname, strerror(-r));
			r = -EPROTONOSUPPORT;
			goto err_close;
		}
	}
	/* A persistent tap keeps the offloads its last user set: start from none. */
	if (ioctl(fd, TUNSETOFFLOAD, 0UL) < 0) {
		r = -errno;
		log_set_err(err, errlen, "%s: TUNSETOFFLOAD: %s", ifname, strerror(-r));
		goto err_close;
	}
	memcpy(tap->ifname, ifr.ifr_name, IFNAMSIZ);
	tap->ifname[IFNAMSIZ - 1] = '\0';
	return fd;

err_close:
	close(fd);
	return r;
}

struct net_backend *net_tap_create(const char *ifname, char *err, size_t errlen)
{
	const char *problem = ifname ? tap_name_problem(ifname) : "no interface name";
	bool vnet_hdr = true;
	struct tap *tap;
	int fd, r;

	if (problem) {
		log_set_err(err, errlen, "%s: %s", ifname && *ifname ? ifname : "tap", problem);
		errno = EINVAL;
		return NULL;
	}
	tap = calloc(1, sizeof(*tap));
	if (!tap) {
		log_set_err(err, errlen, "%s: out of memory", ifname);
		errno = ENOMEM;
		return NULL;
	}
	fd = tap_open(tap, ifname, &vnet_hdr, err, errlen);
	if (fd == -EPROTONOSUPPORT) {
		vnet_hdr = false; /* without offloads, but working */
		fd = tap_open(tap, ifname, &vnet_hdr, err, errlen);
	}
	if (fd < 0) {
		r = -fd;
		free(tap);
		errno = r;
		return NULL;
	}
	tap->be.ops = &tap_ops;
	tap->be.vnet_hdr = vnet_hdr;
	tap->be.rx_fd = fd;
	return &tap->be;
}

const char *net_tap_ifname(const struct net_backend *be)
{
	if (!be || be->ops != &tap_ops)
		return NULL;
	return ((const struct tap *)be)->ifname;
}

static int tap_attach(struct net_backend *be, struct evloop *loop)
{
	(void)be;
	(void)loop;
	return 0;
}

static void tap_detach(struct net_backend *be)
{
	(void)be;
}

static int tap_send(struct net_backend *be, const struct iovec *iov, unsigned iovcnt)
{
	size_t len, max = NET_MAX_FRAME + (be->vnet_hdr ? NET_VNET_HDR_SIZE : 0);
	ssize_t n;

	if (iovcnt > IOV_MAX)
		return -EINVAL;
	if (!tap_iov_len(iov, iovcnt, &len) || len > max)
		return -EMSGSIZE;
	/* The kernel takes one frame per write, whole or not at all. */
	do {
		n = writev(be->rx_fd, iov, (int)iovcnt);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return 0;
}

/*
 * Zeroes the header's num_buffers in a received frame: Linux 6.1 skips
 * those two bytes (the buffer's old contents stay), later kernels zero them.
 */
static void tap_clear_num_buffers(const struct iovec *iov, unsigned iovcnt)
{
	static const uint8_t zero[2];

	iov_from_buf(iov, iovcnt, offsetof(struct net_vnet_hdr, num_buffers), zero, sizeof(zero));
}

/*
 * The kernel cuts a frame longer than the buffers to fit and returns the
 * length it copied, with nothing to tell it from a frame that fitted. A
 * cut frame must not reach the guest: tap may have marked it DATA_VALID,
 * so nothing would catch it. One spare byte after the buffers tells.
 */
static ssize_t tap_recv(struct net_backend *be, const struct iovec *iov, unsigned iovcnt)
{
	size_t room, min = TAP_ETH_HLEN + (be->vnet_hdr ? NET_VNET_HDR_SIZE : 0);
	/* with IOV_MAX iovecs, the spare byte takes the last one's place */
	unsigned used = iovcnt < IOV_MAX ? iovcnt : IOV_MAX - 1;
	struct iovec v[IOV_MAX];
	uint8_t spare;
	ssize_t n;

	/* The kernel would drop the frame for a buffer shorter than the header. */
	if (iovcnt > IOV_MAX || !tap_iov_len(iov, used, &room) || room < min)
		return -EINVAL;
	memcpy(v, iov, used * sizeof(*v));
	v[used] = (struct iovec){ &spare, 1 };
	do {
		n = readv(be->rx_fd, v, (int)used + 1);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if ((size_t)n > room)
		return -EMSGSIZE;
	if (be->vnet_hdr)
		tap_clear_num_buffers(iov, used);
	return n;
}

static int tap_set_offload(struct net_backend *be, unsigned offloads)
{
	const unsigned all =
		NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6 | NET_OFFLOAD_ECN;
	unsigned long flags = 0;

	if (offloads & ~all)
		return -EINVAL;
	if (!be->vnet_hdr)
		return offloads ? -EOPNOTSUPP : 0;
	/* The kernel's set_offload() refuses TSO without CSUM and ECN without TSO. */
	if (offloads & NET_OFFLOAD_CSUM) {
		flags |= TUN_F_CSUM;
		if (offloads & NET_OFFLOAD_TSO4)
			flags |= TUN_F_TSO4;
		if (offloads & NET_OFFLOAD_TSO6)
			flags |= TUN_F_TSO6;
		if ((flags & (TUN_F_TSO4 | TUN_F_TSO6)) && (offloads & NET_OFFLOAD_ECN))
			flags |= TUN_F_TSO_ECN;
	}
	if (ioctl(be->rx_fd, TUNSETOFFLOAD, flags) < 0)
		return -errno;
	return 0;
}

/* Closing the last fd of a non-persistent tap deletes the interface. */
static void tap_destroy(struct net_backend *be)
{
	if (!be)
		return;
	close(be->rx_fd);
	free(be);
}

static const struct net_backend_ops tap_ops = {
	.name = "tap",
	.attach = tap_attach,
	.detach = tap_detach,
	.send = tap_send,
	.recv = tap_recv,
	.set_offload = tap_set_offload,
	.destroy = tap_destroy,
};
