/* The user-mode network backend ("user"): QEMU's 10.0.2.0/24 network on libslirp, no privileges. */
#ifndef HUTCH_DEVICES_NET_SLIRP_H
#define HUTCH_DEVICES_NET_SLIRP_H

#include <stdbool.h>
#include <stddef.h>

#include "devices/net/backend.h"
#include "devices/net/hostfwd.h"

#define NET_MAX_HOSTFWD 16

struct net_slirp_config {
	/* restrict=on: connections the guest opens (even to the host) are refused; hostfwds work */
	bool restrict_host;
	struct net_hostfwd fwd[NET_MAX_HOSTFWD];
	unsigned nfwd;
};

/*
 * Creates a user network as QEMU's default one: network 10.0.2.0/24, the
 * host (gateway) 10.0.2.2, DNS 10.0.2.3 (slirp forwards it to the host's
 * resolvers), DHCP from 10.0.2.15; and IPv6 as QEMU has it: prefix
 * fec0::/64 by router advertisements, host fec0::2, DNS fec0::3. The host
 * itself is reachable from the guest as 10.0.2.2 unless restrict_host.
 *
 * Every cfg->fwd is listening when this returns; a guest address must be a
 * guest's in 10.0.2.0/24 (not .0, .2, .3 or .255). NULL with one line in err,
 * e.g. "hostfwd tcp::8080-:80: cannot listen on 127.0.0.1:8080: Address
 * already in use".
 *
 * A push-model backend without vnet headers: send() takes bare Ethernet
 * frames (14 bytes to NET_MAX_FRAME, others are dropped and counted in
 * tx_dropped) and frames for the guest go to be->rx, bare too, possibly
 * shorter than 60 bytes (no padding). rx runs on the attached loop's
 * thread: from its poll hook, and from inside send() when a frame is
 * answered at once (ARP, DHCP, ICMP to the gateway).
 *
 * The forwards listen from creation on; connections wait in the kernel's
 * backlog until attach().
 *
 * Threads: create and destroy on any thread (destroy detaches first, through
 * evloop_call(), if need be), attach, detach and send on the loop's thread;
 * detach before destroying the loop. libslirp keeps some global state (its
 * clock, the host's DNS address), so every user network of a process shares
 * one loop: attach() is -EBUSY when another is attached to a different loop
 * (or this one is attached already).
 */
struct net_backend *net_slirp_create(const struct net_slirp_config *cfg, char *err, size_t errlen);

#endif
