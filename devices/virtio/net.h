/* virtio-net (virtio 1.2 §5.1): Ethernet frames between the guest and a network backend. */
#ifndef HUTCH_DEVICES_VIRTIO_NET_H
#define HUTCH_DEVICES_VIRTIO_NET_H

#include "devices/net/backend.h"
#include "devices/virtio/virtio.h"

#define VIRTIO_NET_QUEUE_SIZE  256
#define VIRTIO_NET_CONFIG_SIZE 10 /* mac, status, max_virtqueue_pairs */
#define VIRTIO_NET_RX_BACKLOG  64 /* frames a push backend may get ahead of the guest */
#define VIRTIO_NET_RX_CHAINS   64 /* buffers one received frame may span */

struct net_rx_buf {
	uint16_t head;
	unsigned iov_start, iov_num; /* into rx_iov */
	size_t len;
};

struct net_backlog_frame {
	size_t len;
	uint8_t *data;
};

struct virtio_net {
	struct virtio_dev vdev;
	struct net_backend *be;
	uint8_t config[VIRTIO_NET_CONFIG_SIZE];
	bool watching_rx_fd; /* pull backends: rx_fd is in the loop */
	/* receive scratch: the buffers popped for one frame */
	struct net_rx_buf rx_bufs[VIRTIO_NET_RX_CHAINS];
	unsigned rx_nbufs;
	struct iovec rx_iov[VIRTQ_MAX_IOV];
	unsigned rx_niov;
	/* frames from a push backend waiting for guest buffers */
	struct net_backlog_frame backlog[VIRTIO_NET_RX_BACKLOG];
	unsigned backlog_head, backlog_len;
	/* errors the guest caused, for tests */
	uint64_t tx_malformed;
	struct virtq_chain chain;    /* transmit scratch */
	struct virtq_chain rx_chain; /* receive scratch: a push backend answers inside send() */
	struct iovec tx_iov[VIRTQ_MAX_IOV];
};

/* Fills in net->vdev for backend be (owned by the device from now on). 0 or -errno. */
int virtio_net_init(struct virtio_net *net, struct net_backend *be, const uint8_t mac[6])
	__attribute__((warn_unused_result));

#endif
