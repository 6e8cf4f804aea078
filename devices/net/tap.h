/* TAP network backend: a Linux tap interface's Ethernet frames, with virtio-net headers. */
#ifndef HUTCH_DEVICES_NET_TAP_H
#define HUTCH_DEVICES_NET_TAP_H

#include <stddef.h>

#include "devices/net/backend.h"

/*
 * Attaches to the tap interface ifname: an existing persistent one the
 * user may use (`ip tuntap add tap0 mode tap user $USER`), or with
 * CAP_NET_ADMIN a new one, which is not persistent: it goes away when
 * destroy() closes it (or hutch exits), and it starts down and without an
 * address, for the caller or an administrator to bring up or bridge.
 * A name with "%d" (e.g. "tap%d") lets the kernel pick a free one: see
 * net_tap_ifname().
 *
 * Pull model: be->rx_fd is the tap's file descriptor (non-blocking,
 * close-on-exec); the device calls recv() when it is readable and the
 * guest has buffers. be->vnet_hdr is true when the kernel accepted
 * IFF_VNET_HDR with a 12-byte header (struct net_vnet_hdr, always with
 * num_buffers, little-endian): then every frame carries one both ways.
 * Receive offloads start all off, even on a persistent tap a previous
 * user left otherwise, until set_offload() allows them.
 *
 * Backend ops, beyond backend.h's contract:
 *  - send(): one frame, written as given (header first when vnet_hdr).
 *    The kernel checks the header's fields against the frame (GSO type,
 *    csum_start/offset, hdr_len) and the frame's length (an Ethernet
 *    header at least): -EINVAL for a bad one; a GSO frame is checked
 *    again when segmented. -EIO while the interface is down (a new one
 *    starts down), -EAGAIN when the tap's queue is full (rare),
 *    -EMSGSIZE over NET_MAX_FRAME plus header, -EINVAL over IOV_MAX
 *    iovecs. The frame is dropped in every error case; nothing is logged.
 *  - recv(): -EAGAIN when no frame waits. -EMSGSIZE when the frame was
 *    longer than iov: it has been consumed and dropped (never cut short).
 *    -EINVAL, with nothing consumed, when iov holds less than the header
 *    plus an Ethernet header, or has over IOV_MAX entries; with exactly
 *    IOV_MAX, the last one is left unused. num_buffers is 0 (whatever
 *    the kernel did): the device sets it.
 *  - set_offload(): NET_OFFLOAD_* for frames to the guest. The kernel
 *    takes TSO only with CSUM and ECN only with TSO (as virtio 1.2
 *    §5.1.3.1 makes the guest features depend); other combinations are
 *    reduced to the largest set it takes. -EINVAL for unknown bits,
 *    -EOPNOTSUPP for any bit without vnet_hdr.
 *  - attach()/detach() do nothing: the device watches rx_fd itself.
 *  - The counters in struct net_backend are left to the device, which
 *    counts from these return values.
 *
 * NULL on failure, with errno set and one line in err (which may be NULL)
 * that starts with the name, e.g. "tap0: TUNSETIFF: Operation not
 * permitted (create it with `ip tuntap add tap0 mode tap user $USER`)".
 */
struct net_backend *net_tap_create(const char *ifname, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* The interface's name as the kernel gave it; NULL if be is not a tap backend. */
const char *net_tap_ifname(const struct net_backend *be);

#endif
