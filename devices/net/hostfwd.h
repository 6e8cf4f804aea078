/* Port forwards from the host into a user-mode (slirp) network: the spec, parsed purely. */
#ifndef HUTCH_DEVICES_NET_HOSTFWD_H
#define HUTCH_DEVICES_NET_HOSTFWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

/* The longest spec accepted: "udp:255.255.255.255:65535-255.255.255.255:65535" is 47. */
#define NET_HOSTFWD_SPEC_MAX 64

/* One forward: connections to host_addr:host_port go to guest_addr:guest_port. */
struct net_hostfwd {
	bool udp;
	struct in_addr host_addr;  /* network byte order */
	uint16_t host_port;	   /* host byte order, 1-65535 */
	struct in_addr guest_addr; /* 0: the DHCP address 10.0.2.15 */
	uint16_t guest_port;	   /* host byte order, 1-65535 */
};

/*
 * Parses QEMU's hostfwd syntax, "[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT":
 * "tcp::2222-:22", "::8080-10.0.2.15:80", "udp:0.0.0.0:5353-:53".
 *
 *   - The protocol may be empty (tcp); the three ':' and the '-' may not.
 *   - An empty HOSTADDR means 127.0.0.1, where QEMU means every interface:
 *     a forward is reachable from the host only unless the user names
 *     0.0.0.0 (or another address) on purpose.
 *   - An empty GUESTADDR leaves guest_addr 0, the guest's DHCP address.
 *   - Addresses are dotted quads (inet_pton, so no "127.1" or hex); ports
 *     are decimal 1-65535 without sign or leading zero (QEMU would read
 *     "010" as octal 8, so it is refused rather than read differently).
 *   - Printable ASCII only, at most NET_HOSTFWD_SPEC_MAX characters.
 *
 * Pure: no I/O, no name lookups. 0 and *out filled, or -EINVAL with one line
 * naming the problem (e.g. "hostfwd tcp::0-:22: bad host port '0' (1-65535)")
 * in err, which may be NULL; *out is untouched then.
 */
int net_hostfwd_parse(const char *spec, struct net_hostfwd *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Writes fwd back in the syntax above, shortest form: "tcp::2222-:22" for
 * 127.0.0.1 and the DHCP address. The text parses back to *fwd. Returns what
 * snprintf() returns (the length it needed).
 */
int net_hostfwd_format(const struct net_hostfwd *fwd, char *buf, size_t len);

#endif
