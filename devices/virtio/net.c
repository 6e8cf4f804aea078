/* virtio-net: one queue pair, mergeable receive buffers, offloads passed through to TAP. */
#include "devices/virtio/net.h"

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/iov.h"
#include "vmm/log.h"

/* virtio 1.2 §5.1.3: feature bits. */
#define VIRTIO_NET_F_CSUM	0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN	9
#define VIRTIO_NET_F_HOST_TSO4	11
#define VIRTIO_NET_F_HOST_TSO6	12
#define VIRTIO_NET_F_HOST_ECN	13
#define VIRTIO_NET_F_MAC	5
#define VIRTIO_NET_F_MRG_RXBUF	15
#define VIRTIO_NET_F_STATUS	16

/* virtio 1.2 §5.1.6: header flags and GSO types. */
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_GSO_NONE	    0
#define VIRTIO_NET_HDR_GSO_TCPV4    1
#define VIRTIO_NET_HDR_GSO_TCPV6    4
#define VIRTIO_NET_HDR_GSO_ECN	    0x80

#define NET_RX		   0
#define NET_TX		   1
#define NET_ETH_HLEN	   14
#define NET_GOOD_FRAME	   1518 /* Ethernet header, VLAN tag, 1500 bytes of payload */
#define NET_BATCH	   256	/* frames per wakeup, so one direction cannot starve the other */
#define NET_NUM_BUF_OFFSET 10	/* num_buffers in struct virtio_net_hdr_v1 */

static bool net_has(const struct virtio_net *net, unsigned bit)
{
	return virtio_has_feature(&net->vdev, bit);
}

/* Copies iov[] from byte off onwards into out[] (at most max entries); the count. */
static unsigned iov_skip(const struct iovec *iov, unsigned n, size_t off, struct iovec *out,
			 unsigned max)
{
	unsigned m = 0;

	for (unsigned i = 0; i < n && m < max; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		out[m].iov_base = (uint8_t *)iov[i].iov_base + off;
		out[m++].iov_len = iov[i].iov_len - off;
		off = 0;
	}
	return m;
}

/* --- transmit --- */

/* A transmitted frame's header: offloads only as negotiated, else the frame is dropped. */
static bool net_tx_header_ok(const struct virtio_net *net, const struct net_vnet_hdr *h)
{
	uint8_t gso = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;

	if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !net_has(net, VIRTIO_NET_F_CSUM))
		return false;
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !net_has(net, VIRTIO_NET_F_HOST_ECN))
		return false;
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE: return true;
	case VIRTIO_NET_HDR_GSO_TCPV4: return net_has(net, VIRTIO_NET_F_HOST_TSO4);
	case VIRTIO_NET_HDR_GSO_TCPV6: return net_has(net, VIRTIO_NET_F_HOST_TSO6);
	default: return false;
	}
}

/* One chain: NULL when handed to the backend, or why it was dropped. */
static const char *net_tx_one(struct virtio_net *net, struct virtq_chain *c)
{
	struct net_backend *be = net->be;
	struct net_vnet_hdr h;
	unsigned n;

	if (c->in_num)
		return "device-writable buffers in a transmit chain";
	if (c->out_len < NET_VNET_HDR_SIZE + NET_ETH_HLEN ||
	    c->out_len - NET_VNET_HDR_SIZE > NET_MAX_FRAME)
		return "frame shorter than an Ethernet header or longer than 64 KiB";
	/* The header is copied out of guest memory before it is checked, and
	 * the copy is what the backend gets: the guest cannot change it later. */
	iov_to_buf(c->iov, c->out_num, 0, &h, sizeof(h));
	net->tx_iov[0] = (struct iovec){ &h, sizeof(h) };
	if (!net_tx_header_ok(net, &h))
		return "an offload the driver did not negotiate";
	n = iov_skip(c->iov, c->out_num, NET_VNET_HDR_SIZE, net->tx_iov + 1, VIRTQ_MAX_IOV - 1);
	/* Behind the header copy fit VIRTQ_MAX_IOV - 1 buffers: a frame that
	 * needs all VIRTQ_MAX_IOV is dropped, not sent truncated. */
	if (iov_length(net->tx_iov + 1, n) != c->out_len - NET_VNET_HDR_SIZE)
		return "frame in more buffers than one send takes";
	if (be->vnet_hdr)
		h.num_buffers = 0;
	if (be->ops->send(be, be->vnet_hdr ? net->tx_iov : net->tx_iov + 1,
			  be->vnet_hdr ? n + 1 : n))
		be->tx_dropped++;
	else
		be->tx_frames++;
	return NULL;
}

static void net_tx(struct virtio_net *net)
{
	unsigned done = 0;

	while (done < NET_BATCH) {
		/* virtq_pop(), not virtio_pop(): bad chains count as malformed too */
		int ret = virtq_pop(&net->vdev.queues[NET_TX].vq, &net->chain);
		const char *why;

		if (ret == 0)
			break;
		if (virtq_error_is_ring(ret)) {
			if (ret != -VIRTQ_E_BROKEN)
				virtio_set_needs_reset(&net->vdev, virtq_strerror(ret));
			break;
		}
		why = ret < 0 ? virtq_strerror(ret) : net_tx_one(net, &net->chain);
		if (why) {
			net->tx_malformed++;
			LOG_RATELIMITED("virtio-net: dropped a transmitted frame: %s", why);
		}
		virtio_push(&net->vdev, NET_TX, net->chain.head, 0);
		done++;
	}
	virtio_notify(&net->vdev, NET_TX);
	if (done == NET_BATCH) {
		/* more may wait: come back after the loop served others */
		uint64_t one = 1;

		if (write(net->vdev.queues[NET_TX].kick_fd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow */
		}
	}
}

/* --- receive --- */

/* Bytes the guest's buffers must hold for the largest frame the backend may deliver. */
static size_t net_rx_need(const struct virtio_net *net)
{
	bool big = net_has(net, VIRTIO_NET_F_GUEST_TSO4) || net_has(net, VIRTIO_NET_F_GUEST_TSO6);

	return NET_VNET_HDR_SIZE + (big ? NET_MAX_FRAME : NET_GOOD_FRAME);
}

static void net_rx_unpop_all(struct virtio_net *net)
{
	if (net->rx_nbufs && virtq_unpop(&net->vdev.queues[NET_RX].vq, (uint16_t)net->rx_nbufs))
		LOG_RATELIMITED("virtio-net: cannot give back %u buffers", net->rx_nbufs);
	net->rx_nbufs = 0;
	net->rx_niov = 0;
}

/*
 * Takes receive buffers until they hold need bytes: one buffer without
 * MRG_RXBUF, several with it. False (nothing kept) when the guest has too
 * few; then the guest's next notification on the receive queue wakes us.
 */
static bool net_rx_collect(struct virtio_net *net, size_t need)
{
	bool mergeable = net_has(net, VIRTIO_NET_F_MRG_RXBUF);
	size_t have = 0;

	net->rx_nbufs = 0;
	net->rx_niov = 0;
	while (have < need) {
		struct virtq_chain *c = &net->rx_chain;
		struct net_rx_buf *b;

		int ret;

		if ((net->rx_nbufs && !mergeable) || net->rx_nbufs == VIRTIO_NET_RX_CHAINS)
			break;
		/* virtq_pop(), not virtio_pop(): a bad chain must not be completed
		 * among buffers that may be given back */
		ret = virtq_pop(&net->vdev.queues[NET_RX].vq, c);
		if (ret == 0)
			break;
		if (ret < 0 && virtq_error_is_ring(ret)) {
			if (ret != -VIRTQ_E_BROKEN)
				virtio_set_needs_reset(&net->vdev, virtq_strerror(ret));
			break;
		}
		if (ret < 0 || c->out_num || !c->in_len ||
		    (!net->rx_nbufs && c->in_len < NET_VNET_HDR_SIZE)) {
			LOG_RATELIMITED("%s", "virtio-net: unusable receive buffer");
			/* Completed only as the first of a frame: unpop gives back
			 * the last chains popped, so none may be pushed among them. */
			if (!net->rx_nbufs) {
				virtio_push(&net->vdev, NET_RX, c->head, 0);
				continue;
			}
			if (virtq_unpop(&net->vdev.queues[NET_RX].vq, 1)) {
				/* cannot happen: it was just popped */
			}
			break;
		}
		if (c->in_num > VIRTQ_MAX_IOV - net->rx_niov) {
			if (virtq_unpop(&net->vdev.queues[NET_RX].vq, 1)) {
				/* cannot happen: it was just popped */
			}
			break; /* no room for its iovecs now */
		}
		b = &net->rx_bufs[net->rx_nbufs++];
		*b = (struct net_rx_buf){ c->head, net->rx_niov, c->in_num, c->in_len };
		memcpy(net->rx_iov + net->rx_niov, virtq_chain_in(c),
		       c->in_num * sizeof(struct iovec));
		net->rx_niov += c->in_num;
		have += c->in_len;
	}
	if (have >= need)
		return true;
	net_rx_unpop_all(net);
	return false;
}

/* total bytes (header included) were written to the collected buffers: publish them. */
static void net_rx_complete(struct virtio_net *net, size_t total)
{
	unsigned used = 0;
	uint16_t num_buffers;

	for (size_t left = total; used < net->rx_nbufs && left; used++)
		left -= left < net->rx_bufs[used].len ? left : net->rx_bufs[used].len;
	num_buffers = htole16((uint16_t)(used ? used : 1));
	iov_from_buf(net->rx_iov, net->rx_bufs[0].iov_num, NET_NUM_BUF_OFFSET, &num_buffers, 2);
	for (unsigned i = 0; i < used; i++) {
		size_t len = total < net->rx_bufs[i].len ? total : net->rx_bufs[i].len;

		virtio_push(&net->vdev, NET_RX, net->rx_bufs[i].head, (uint32_t)len);
		total -= len;
	}
	if (used < net->rx_nbufs &&
	    virtq_unpop(&net->vdev.queues[NET_RX].vq, (uint16_t)(net->rx_nbufs - used)))
		LOG_RATELIMITED("%s", "virtio-net: cannot give back unused receive buffers");
	net->rx_nbufs = 0;
	net->rx_niov = 0;
	net->be->rx_frames++;
}

/* Push backends: one frame into the guest's buffers now; false if they lack room. */
static bool net_rx_deliver(struct virtio_net *net, const void *frame, size_t len)
{
	static const uint8_t zero_hdr[NET_VNET_HDR_SIZE];

	if (!net_rx_collect(net, NET_VNET_HDR_SIZE + len))
		return false;
	iov_from_buf(net->rx_iov, net->rx_niov, 0, zero_hdr, sizeof(zero_hdr));
	iov_from_buf(net->rx_iov, net->rx_niov, NET_VNET_HDR_SIZE, frame, len);
	net_rx_complete(net, NET_VNET_HDR_SIZE + len);
	return true;
}

static void net_backlog_flush(struct virtio_net *net)
{
	bool delivered = false;

	while (net->backlog_len) {
		struct net_backlog_frame *f = &net->backlog[net->backlog_head];

		if (!net_rx_deliver(net, f->data, f->len))
			break;
		free(f->data);
		net->backlog_head = (net->backlog_head + 1) % VIRTIO_NET_RX_BACKLOG;
		net->backlog_len--;
		delivered = true;
	}
	if (delivered)
		virtio_notify(&net->vdev, NET_RX);
}

static void net_backlog_clear(struct virtio_net *net)
{
	while (net->backlog_len) {
		free(net->backlog[net->backlog_head].data);
		net->backlog_head = (net->backlog_head + 1) % VIRTIO_NET_RX_BACKLOG;
		net->backlog_len--;
	}
}

/* A push backend's frame for the guest (on the I/O thread). */
static void net_rx_push(void *opaque, const void *frame, size_t len)
{
	struct virtio_net *net = opaque;
	struct net_backlog_frame *f;

	if (!net->vdev.active || len > NET_MAX_FRAME)
		return;
	if (!net->backlog_len && net_rx_deliver(net, frame, len)) {
		virtio_notify(&net->vdev, NET_RX);
		return;
	}
	if (net->backlog_len == VIRTIO_NET_RX_BACKLOG) {
		net->be->rx_dropped++; /* like a full NIC ring: TCP resends */
		return;
	}
	f = &net->backlog[(net->backlog_head + net->backlog_len) % VIRTIO_NET_RX_BACKLOG];
	f->data = malloc(len ? len : 1);
	if (!f->data) {
		net->be->rx_dropped++;
		return;
	}
	memcpy(f->data, frame, len);
	f->len = len;
	net->backlog_len++;
}

static void net_rx_ready(void *opaque);

static void net_watch_rx_fd(struct virtio_net *net, bool on)
{
	if (on == net->watching_rx_fd)
		return;
	if (on ? evloop_add(net->vdev.loop, net->be->rx_fd, net_rx_ready, net)
	       : evloop_del(net->vdev.loop, net->be->rx_fd))
		return;
	net->watching_rx_fd = on;
}

/* Pull backends: read frames straight into the guest's buffers. */
static void net_rx_pull(struct virtio_net *net)
{
	struct net_backend *be = net->be;
	static const uint8_t zero_hdr[NET_VNET_HDR_SIZE];
	unsigned frames = 0;

	for (; frames < NET_BATCH; frames++) {
		struct iovec *iov = net->rx_iov;
		unsigned n;
		ssize_t got;

		if (!net_rx_collect(net, net_rx_need(net))) {
			net_watch_rx_fd(net, false); /* until the guest adds buffers */
			break;
		}
		n = net->rx_niov; /* what the collect just took, not before it */
		if (!be->vnet_hdr) {
			iov_from_buf(net->rx_iov, net->rx_niov, 0, zero_hdr, sizeof(zero_hdr));
			n = iov_skip(net->rx_iov, net->rx_niov, NET_VNET_HDR_SIZE, net->tx_iov,
				     VIRTQ_MAX_IOV);
			iov = net->tx_iov;
		}
		got = be->ops->recv(be, iov, n);
		if (got == -EMSGSIZE) { /* larger than the buffers: consumed, dropped */
			net_rx_unpop_all(net);
			be->rx_dropped++;
			continue;
		}
		if (got <= 0) {
			net_rx_unpop_all(net);
			net_watch_rx_fd(net, true);
			break;
		}
		net_rx_complete(net, (size_t)got + (be->vnet_hdr ? 0 : NET_VNET_HDR_SIZE));
	}
	if (frames)
		virtio_notify(&net->vdev, NET_RX);
}

static void net_rx_ready(void *opaque)
{
	net_rx_pull(opaque);
}

/* --- device --- */

static void net_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_net *net = vdev->opaque;

	if (q == NET_TX) {
		net_tx(net);
	} else if (net->be->rx_fd >= 0) {
		net_rx_pull(net);
	} else {
		net_backlog_flush(net);
	}
}

static unsigned net_guest_offloads(const struct virtio_net *net)
{
	unsigned o = 0;

	if (net_has(net, VIRTIO_NET_F_GUEST_CSUM))
		o |= NET_OFFLOAD_CSUM;
	if (net_has(net, VIRTIO_NET_F_GUEST_TSO4))
		o |= NET_OFFLOAD_TSO4;
	if (net_has(net, VIRTIO_NET_F_GUEST_TSO6))
		o |= NET_OFFLOAD_TSO6;
	if (net_has(net, VIRTIO_NET_F_GUEST_ECN))
		o |= NET_OFFLOAD_ECN;
	return o;
}

static int net_activate(struct virtio_dev *vdev)
{
	struct virtio_net *net = vdev->opaque;
	struct net_backend *be = net->be;
	int ret;

	if (be->vnet_hdr && be->ops->set_offload) {
		ret = be->ops->set_offload(be, net_guest_offloads(net));
		if (ret)
			LOG_RATELIMITED("virtio-net: cannot set offloads: %s", strerror(-ret));
	}
	be->rx = net_rx_push;
	be->rx_opaque = net;
	ret = be->ops->attach(be, vdev->loop);
	if (ret)
		return ret;
	if (be->rx_fd >= 0)
		net_watch_rx_fd(net, true);
	return 0;
}

static void net_reset(struct virtio_dev *vdev)
{
	struct virtio_net *net = vdev->opaque;

	if (net->be->rx_fd >= 0)
		net_watch_rx_fd(net, false);
	net->be->ops->detach(net->be);
	net_backlog_clear(net);
	net->rx_nbufs = 0;
	net->rx_niov = 0;
}

static const struct virtio_dev_ops net_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.pci_class = 0x020000, /* Ethernet controller */
	.activate = net_activate,
	.queue_notify = net_queue_notify,
	.reset = net_reset,
};

int virtio_net_init(struct virtio_net *net, struct net_backend *be, const uint8_t mac[6])
{
	struct virtio_dev *vdev = &net->vdev;
	uint16_t status = htole16(1), pairs = htole16(1); /* VIRTIO_NET_S_LINK_UP */

	memset(net, 0, offsetof(struct virtio_net, chain));
	net->be = be;
	vdev->ops = &net_ops;
	vdev->opaque = net;
	vdev->num_queues = 2;
	vdev->queues[NET_RX].size_max = VIRTIO_NET_QUEUE_SIZE;
	vdev->queues[NET_TX].size_max = VIRTIO_NET_QUEUE_SIZE;
	vdev->features = 1ULL << VIRTIO_F_INDIRECT_DESC | 1ULL << VIRTIO_F_EVENT_IDX |
			 1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_STATUS |
			 1ULL << VIRTIO_NET_F_MRG_RXBUF;
	if (be->vnet_hdr) /* TAP takes and gives partial checksums and 64 KiB segments */
		vdev->features |= 1ULL << VIRTIO_NET_F_CSUM | 1ULL << VIRTIO_NET_F_GUEST_CSUM |
				  1ULL << VIRTIO_NET_F_HOST_TSO4 | 1ULL << VIRTIO_NET_F_HOST_TSO6 |
				  1ULL << VIRTIO_NET_F_HOST_ECN | 1ULL << VIRTIO_NET_F_GUEST_TSO4 |
				  1ULL << VIRTIO_NET_F_GUEST_TSO6 | 1ULL << VIRTIO_NET_F_GUEST_ECN;
	memcpy(net->config, mac, 6);
	memcpy(net->config + 6, &status, 2);
	memcpy(net->config + 8, &pairs, 2);
	vdev->config = net->config;
	vdev->config_size = VIRTIO_NET_CONFIG_SIZE;
	return 0;
}
