/* The user-mode network backend: libslirp driven from an evloop poll hook, its timers kept here. */
#include "devices/net/slirp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libslirp.h>

#include "vmm/log.h"

/* QEMU's -netdev user defaults (docs/system/devices/net.rst, "User Networking"). */
#define SLIRP_NETWORK	 0x0a000200 /* 10.0.2.0/24 */
#define SLIRP_NETMASK	 0xffffff00
#define SLIRP_HOST	 0x0a000202 /* the gateway, and the host as the guest sees it */
#define SLIRP_DNS	 0x0a000203
#define SLIRP_DHCP_START 0x0a00020f /* 10.0.2.15, the first (and usual) lease */

#define ETH_HEADER_LEN 14

struct slirp_timer {
	SlirpTimerId id;
	void *cb_opaque;
	bool armed;
	bool due; /* expired when this dispatch began, not run yet */
	int64_t expire_ms;
	struct slirp_timer *next;
};

struct net_slirp {
	struct net_backend be; /* first: the ops get it back by a cast */
	Slirp *slirp;
	struct evloop *loop; /* while attached; frames reach be->rx only then */
	struct slirp_timer *timers;
	struct evloop_pollset *set; /* the loop's, during prepare and dispatch */
	uint8_t *frame;		    /* send(): a frame gathered from its iovecs */
	struct net_slirp *next;	    /* on slirp_loop.attached */
};

/*
 * libslirp keeps process-wide state (its clock "curtime", the host's DNS
 * address cache) without locks, so every attached user network runs on one
 * loop, behind one poll hook. The list changes on that loop's thread only
 * (attach and detach run there), so prepare and dispatch walk it unlocked.
 */
static struct {
	pthread_mutex_t lock;
	struct evloop *loop;
	struct net_slirp *attached;
} slirp_loop = { PTHREAD_MUTEX_INITIALIZER, NULL, NULL };

static int64_t slirp_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* libslirp callbacks; all on the loop's thread once attached. */

static ssize_t slirp_cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct net_slirp *ns = opaque;

	if (!ns->loop || !ns->be.rx) {
		ns->be.rx_dropped++;
		return (ssize_t)len;
	}
	ns->be.rx_frames++;
	ns->be.rx(ns->be.rx_opaque, buf, len);
	return (ssize_t)len;
}

static void slirp_cb_guest_error(const char *msg, void *opaque)
{
	(void)opaque;
	LOG_RATELIMITED("user network: guest error: %s", msg);
}

static int64_t slirp_cb_clock_get_ns(void *opaque)
{
	(void)opaque;
	return slirp_clock_ns();
}

static void *slirp_cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct net_slirp *ns = opaque;
	struct slirp_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL; /* timer_mod() and timer_free() take NULL */
	t->id = id;
	t->cb_opaque = cb_opaque;
	t->next = ns->timers;
	ns->timers = t;
	return t;
}

static void slirp_cb_timer_free(void *timer, void *opaque)
{
	struct net_slirp *ns = opaque;

	for (struct slirp_timer **pp = &ns->timers; *pp; pp = &(*pp)->next) {
		if (*pp == timer) {
			*pp = (*pp)->next;
			free(timer);
			return;
		}
	}
}

/* expire_ms is on the clock_get_ns() clock, in ms; prepare() shortens the wait for it. */
static void slirp_cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct slirp_timer *t = timer;

	(void)opaque;
	if (!t)
		return;
	t->armed = true;
	t->due = false;
	t->expire_ms = expire_ms;
}

/* prepare() lists slirp's sockets anew before every wait: nothing to keep. */
static void slirp_cb_register_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;
}

static void slirp_cb_unregister_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;
}

/*
 * Socket buffers drained: slirp wants its poll set rebuilt. It only calls
 * this from within slirp_input() or the hook, on the loop's thread, and the
 * loop runs prepare() again before it next waits.
 */
static void slirp_cb_notify(void *opaque)
{
	(void)opaque;
}

static const SlirpCb slirp_callbacks = {
	.send_packet = slirp_cb_send_packet,
	.guest_error = slirp_cb_guest_error,
	.clock_get_ns = slirp_cb_clock_get_ns,
	.timer_free = slirp_cb_timer_free,
	.timer_mod = slirp_cb_timer_mod,
	.register_poll_fd = slirp_cb_register_poll_fd,
	.unregister_poll_fd = slirp_cb_unregister_poll_fd,
	.notify = slirp_cb_notify,
	.timer_new_opaque = slirp_cb_timer_new_opaque,
};

/* The poll hook: every attached instance, around the loop's poll(). */

static int slirp_add_poll(int fd, int events, void *opaque)
{
	struct net_slirp *ns = opaque;
	short ev = 0;
	int idx;

	ev |= (events & SLIRP_POLL_IN) ? POLLIN : 0;
	ev |= (events & SLIRP_POLL_OUT) ? POLLOUT : 0;
	ev |= (events & SLIRP_POLL_PRI) ? POLLPRI : 0;
	/* POLLERR and POLLHUP are always reported; asking is harmless. */
	ev |= (events & SLIRP_POLL_ERR) ? POLLERR : 0;
	ev |= (events & SLIRP_POLL_HUP) ? POLLHUP : 0;
	idx = evloop_pollset_add(ns->set, fd, ev);
	return idx < 0 ? -1 : idx; /* -1: slirp skips the socket this round */
}

static int slirp_get_revents(int idx, void *opaque)
{
	struct net_slirp *ns = opaque;
	short rev;
	int events = 0;

	if (idx < 0 || (unsigned)idx >= ns->set->n)
		return 0;
	rev = ns->set->fds[idx].revents;
	events |= (rev & POLLIN) ? SLIRP_POLL_IN : 0;
	events |= (rev & POLLOUT) ? SLIRP_POLL_OUT : 0;
	events |= (rev & POLLPRI) ? SLIRP_POLL_PRI : 0;
	/* POLLNVAL too, so that slirp drops the socket rather than poll() spinning on it. */
	events |= (rev & (POLLERR | POLLNVAL)) ? SLIRP_POLL_ERR : 0;
	events |= (rev & POLLHUP) ? SLIRP_POLL_HUP : 0;
	return events;
}

/* Milliseconds until ns's nearest timer (0: one is due), or UINT32_MAX. */
static uint32_t slirp_timers_timeout(const struct net_slirp *ns, int64_t now_ms)
{
	uint32_t timeout = UINT32_MAX;

	for (const struct slirp_timer *t = ns->timers; t; t = t->next) {
		int64_t left = t->expire_ms - now_ms;

		if (!t->armed)
			continue;
		if (left <= 0)
			return 0;
		if (left < (int64_t)timeout)
			timeout = (uint32_t)left;
	}
	return timeout;
}

static void slirp_run_timers(struct net_slirp *ns)
{
	int64_t now_ms = slirp_clock_ns() / 1000000;
	struct slirp_timer *t;

	for (t = ns->timers; t; t = t->next)
		t->due = t->armed && t->expire_ms <= now_ms;
	/* A handler may free or re-arm any timer: look for the next due one anew each time. */
	for (;;) {
		for (t = ns->timers; t && !t->due; t = t->next)
			;
		if (!t)
			return;
		t->due = false;
		t->armed = false;
		slirp_handle_timer(ns->slirp, t->id, t->cb_opaque);
	}
}

static void slirp_prepare(void *opaque, struct evloop_pollset *set, int *timeout_ms)
{
	uint32_t timeout = *timeout_ms < 0 ? UINT32_MAX : (uint32_t)*timeout_ms;
	int64_t now_ms = slirp_clock_ns() / 1000000;

	(void)opaque;
	for (struct net_slirp *ns = slirp_loop.attached; ns; ns = ns->next) {
		uint32_t timers = slirp_timers_timeout(ns, now_ms);

		ns->set = set;
		/* Lowers timeout to what slirp's TCP and expiry timers need (at most 1 s). */
		slirp_pollfds_fill(ns->slirp, &timeout, slirp_add_poll, ns);
		if (timers < timeout)
			timeout = timers;
	}
	*timeout_ms = timeout > INT_MAX ? -1 : (int)timeout;
}

static void slirp_dispatch(void *opaque, struct evloop_pollset *set)
{
	(void)opaque;
	for (struct net_slirp *ns = slirp_loop.attached; ns; ns = ns->next) {
		ns->set = set;
		slirp_run_timers(ns);
		/* poll() errors leave every revents 0 (evloop.c): nothing is read. */
		slirp_pollfds_poll(ns->slirp, 0, slirp_get_revents, ns);
	}
}

/* The backend ops. */

static int slirp_attach(struct net_backend *be, struct evloop *loop)
{
	struct net_slirp *ns = (struct net_slirp *)be;
	int ret = 0;

	pthread_mutex_lock(&slirp_loop.lock);
	if (ns->loop) {
		ret = -EBUSY;
	} else if (slirp_loop.loop && slirp_loop.loop != loop) {
		ret = -EBUSY; /* libslirp's global state: one loop for all */
	} else {
		if (!slirp_loop.loop) {
			const struct evloop_poll_hook hook = { slirp_prepare, slirp_dispatch,
							       NULL };

			slirp_loop.loop = loop;
			evloop_set_poll_hook(loop, &hook);
		}
		ns->loop = loop;
		ns->next = slirp_loop.attached;
		slirp_loop.attached = ns;
	}
	pthread_mutex_unlock(&slirp_loop.lock);
	return ret;
}

static void slirp_detach(struct net_backend *be)
{
	struct net_slirp *ns = (struct net_slirp *)be;

	pthread_mutex_lock(&slirp_loop.lock);
	for (struct net_slirp **pp = &slirp_loop.attached; *pp; pp = &(*pp)->next) {
		if (*pp == ns) {
			*pp = ns->next;
			break;
		}
	}
	if (ns->loop && !slirp_loop.attached) {
		evloop_set_poll_hook(ns->loop, NULL);
		slirp_loop.loop = NULL;
	}
	ns->loop = NULL;
	ns->next = NULL;
	pthread_mutex_unlock(&slirp_loop.lock);
}

static void slirp_detach_cb(void *opaque)
{
	slirp_detach(opaque);
}

static int slirp_send(struct net_backend *be, const struct iovec *iov, unsigned iovcnt)
{
	struct net_slirp *ns = (struct net_slirp *)be;
	const uint8_t *frame;
	size_t len = 0;

	for (unsigned i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > NET_MAX_FRAME - len) {
			be->tx_dropped++;
			return -EMSGSIZE;
		}
		len += iov[i].iov_len;
	}
	if (len < ETH_HEADER_LEN) {
		be->tx_dropped++;
		return -EINVAL;
	}
	if (iovcnt == 1) {
		frame = iov[0].iov_base;
	} else {
		size_t off = 0;

		for (unsigned i = 0; i < iovcnt; i++) {
			if (iov[i].iov_len)
				memcpy(ns->frame + off, iov[i].iov_base, iov[i].iov_len);
			off += iov[i].iov_len;
		}
		frame = ns->frame;
	}
	be->tx_frames++;
	/* May call send_packet, so be->rx, before it returns (ARP, DHCP, ICMP replies). */
	slirp_input(ns->slirp, frame, (int)len);
	return 0;
}

static void slirp_destroy(struct net_backend *be)
{
	struct net_slirp *ns = (struct net_slirp *)be;

	if (!ns)
		return;
	if (ns->loop)
		evloop_call(ns->loop, slirp_detach_cb, ns);
	if (ns->slirp)
		slirp_cleanup(ns->slirp); /* frees its timers through timer_free */
	while (ns->timers) {
		struct slirp_timer *t = ns->timers;

		ns->timers = t->next;
		free(t);
	}
	free(ns->frame);
	free(ns);
}

static const struct net_backend_ops slirp_ops = {
	.name = "user",
	.attach = slirp_attach,
	.detach = slirp_detach,
	.send = slirp_send,
	.recv = NULL, /* push model */
	.set_offload = NULL,
	.destroy = slirp_destroy,
};

/* A forward's guest end must be a guest: inside the network, not slirp's own or special. */
static bool slirp_guest_addr_ok(struct in_addr addr)
{
	uint32_t a = ntohl(addr.s_addr);
	uint32_t host = a & ~SLIRP_NETMASK;

	if (a == 0)
		return true; /* the DHCP address */
	return (a & SLIRP_NETMASK) == SLIRP_NETWORK && host != 0 && host != (SLIRP_HOST & 0xff) &&
	       host != (SLIRP_DNS & 0xff) && host != 0xff;
}

static int slirp_add_fwd(struct net_slirp *ns, const struct net_hostfwd *fwd, char *err,
			 size_t errlen)
{
	char spec[NET_HOSTFWD_SPEC_MAX + 1], host[INET_ADDRSTRLEN], guest[INET_ADDRSTRLEN];
	int e;

	net_hostfwd_format(fwd, spec, sizeof(spec));
	inet_ntop(AF_INET, &fwd->host_addr, host, sizeof(host));
	if (fwd->host_port == 0 || fwd->guest_port == 0) {
		log_set_err(err, errlen, "hostfwd %s: port 0", spec);
		return -EINVAL;
	}
	if (!slirp_guest_addr_ok(fwd->guest_addr)) {
		inet_ntop(AF_INET, &fwd->guest_addr, guest, sizeof(guest));
		log_set_err(err, errlen,
			    "hostfwd %s: guest address %s is not a guest's in 10.0.2.0/24", spec,
			    guest);
		return -EINVAL;
	}
	errno = 0;
	if (slirp_add_hostfwd(ns->slirp, fwd->udp, fwd->host_addr, fwd->host_port, fwd->guest_addr,
			      fwd->guest_port) == 0)
		return 0;
	/* tcpx_listen() and udpx_listen() leave the reason in errno. */
	e = errno ? errno : EADDRNOTAVAIL;
	log_set_err(err, errlen, "hostfwd %s: cannot %s %s:%u: %s", spec,
		    fwd->udp ? "bind to" : "listen on", host, fwd->host_port, strerror(e));
	return -e;
}

struct net_backend *net_slirp_create(const struct net_slirp_config *cfg, char *err, size_t errlen)
{
	SlirpConfig sc = {
		.version = 4,
		.restricted = cfg->restrict_host,
		.in_enabled = true,
		.vnetwork.s_addr = htonl(SLIRP_NETWORK),
		.vnetmask.s_addr = htonl(SLIRP_NETMASK),
		.vhost.s_addr = htonl(SLIRP_HOST),
		.vdhcp_start.s_addr = htonl(SLIRP_DHCP_START),
		.vnameserver.s_addr = htonl(SLIRP_DNS),
		/* QEMU's IPv6 defaults: fec0::/64, host fec0::2, DNS fec0::3 */
		.in6_enabled = true,
		.vprefix_addr6 = { { { 0xfe, 0xc0 } } },
		.vprefix_len = 64,
		.vhost6 = { { { 0xfe, 0xc0, [15] = 2 } } },
		.vnameserver6 = { { { 0xfe, 0xc0, [15] = 3 } } },
		.if_mtu = 0, /* 1500 */
		.if_mru = 0,
		.enable_emu = false, /* libslirp: "this code isn't safe" */
	};
	struct net_slirp *ns;

	if (cfg->nfwd > NET_MAX_HOSTFWD) {
		log_set_err(err, errlen, "more than %d hostfwd", NET_MAX_HOSTFWD);
		return NULL;
	}
	ns = calloc(1, sizeof(*ns));
	if (!ns || !(ns->frame = malloc(NET_MAX_FRAME))) {
		log_set_err(err, errlen, "user network: %s", strerror(ENOMEM));
		goto err_free;
	}
	ns->be = (struct net_backend){ .ops = &slirp_ops, .vnet_hdr = false, .rx_fd = -1 };
	ns->slirp = slirp_new(&sc, &slirp_callbacks, ns);
	if (!ns->slirp) {
		log_set_err(err, errlen, "user network: libslirp refused the configuration");
		goto err_free;
	}
	for (unsigned i = 0; i < cfg->nfwd; i++)
		if (slirp_add_fwd(ns, &cfg->fwd[i], err, errlen) < 0)
			goto err_free;
	return &ns->be;

err_free:
	slirp_destroy(ns ? &ns->be : NULL);
	return NULL;
}
