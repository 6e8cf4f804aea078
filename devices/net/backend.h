/* Network backends: where a virtio-net device's Ethernet frames go and come from. */
#ifndef HUTCH_DEVICES_NET_BACKEND_H
#define HUTCH_DEVICES_NET_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "vmm/evloop.h"

/* The largest frame either way: a 64 KiB GSO packet plus Ethernet and VLAN headers. */
#define NET_MAX_FRAME (65536 + 14 + 4)

/*
 * Linux's struct virtio_net_hdr_v1 (12 bytes), which TAP devices with
 * IFF_VNET_HDR put before every frame. Little-endian.
 */
struct net_vnet_hdr {
	uint8_t flags; /* 1: NEEDS_CSUM, 2: DATA_VALID */
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};
#define NET_VNET_HDR_SIZE 12

/* TUNSETOFFLOAD bits a backend may be asked to accept from the guest's features. */
#define NET_OFFLOAD_CSUM 0x01
#define NET_OFFLOAD_TSO4 0x02
#define NET_OFFLOAD_TSO6 0x04
#define NET_OFFLOAD_ECN	 0x08

struct net_backend;

/* Push-model backends hand each frame for the guest to this (on the I/O thread). */
typedef void net_backend_rx_fn(void *opaque, const void *frame, size_t len);

struct net_backend_ops {
	const char *name; /* "user", "tap" */
	/* on the device's I/O thread, once: start serving (slirp hooks its poll loop in) */
	int (*attach)(struct net_backend *be, struct evloop *loop);
	/* on the I/O thread: stop serving; no rx callbacks after this returns */
	void (*detach)(struct net_backend *be);
	/*
	 * A frame from the guest (with a struct net_vnet_hdr first when
	 * be->vnet_hdr). 0, or -errno: the frame was dropped.
	 */
	int (*send)(struct net_backend *be, const struct iovec *iov, unsigned iovcnt);
	/*
	 * Pull model only (be->rx_fd >= 0): reads one frame (with the header
	 * when vnet_hdr) into iov. Its length, or -EAGAIN when none is waiting,
	 * or -errno.
	 */
	ssize_t (*recv)(struct net_backend *be, const struct iovec *iov, unsigned iovcnt);
	/* Which NET_OFFLOAD_* the guest handles in received frames; tap only, may be NULL. */
	int (*set_offload)(struct net_backend *be, unsigned offloads);
	void (*destroy)(struct net_backend *be);
};

struct net_backend {
	const struct net_backend_ops *ops;
	bool vnet_hdr;	       /* frames carry struct net_vnet_hdr both ways (offloads possible) */
	int rx_fd;	       /* pull model: readable when recv() has a frame; -1: push model */
	net_backend_rx_fn *rx; /* push model: set by the device before attach() */
	void *rx_opaque;
	/* counters, for --stats and tests */
	uint64_t tx_frames, tx_dropped, rx_frames, rx_dropped;
};

#endif
