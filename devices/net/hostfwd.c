/* The hostfwd spec parser: QEMU's "[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT". */
#include "devices/net/hostfwd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/log.h"

#define HOSTFWD_SYNTAX "[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT"

/* One field of the spec: [start, start + len), not NUL-terminated. */
struct hostfwd_field {
	const char *start;
	size_t len;
};

/* Splits at the next sep at or after *pos; false when there is none. */
static bool hostfwd_next_field(const char *spec, size_t *pos, char sep, struct hostfwd_field *f)
{
	const char *end = strchr(spec + *pos, sep);

	if (!end)
		return false;
	f->start = spec + *pos;
	f->len = (size_t)(end - f->start);
	*pos += f->len + 1;
	return true;
}

static bool hostfwd_field_is(const struct hostfwd_field *f, const char *word)
{
	return f->len == strlen(word) && memcmp(f->start, word, f->len) == 0;
}

/* Decimal 1-65535, no sign, no leading zero: the field is all there is. */
static bool hostfwd_parse_port(const struct hostfwd_field *f, uint16_t *port)
{
	unsigned v = 0;

	if (f->len == 0 || f->len > 5 || f->start[0] == '0')
		return false;
	for (size_t i = 0; i < f->len; i++) {
		if (f->start[i] < '0' || f->start[i] > '9')
			return false;
		v = v * 10 + (unsigned)(f->start[i] - '0');
	}
	if (v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* A dotted quad; an empty field gives dflt. */
static bool hostfwd_parse_addr(const struct hostfwd_field *f, in_addr_t dflt, struct in_addr *addr)
{
	char buf[NET_HOSTFWD_SPEC_MAX + 1];

	if (f->len == 0) {
		addr->s_addr = dflt;
		return true;
	}
	if (f->len >= sizeof(buf))
		return false;
	memcpy(buf, f->start, f->len);
	buf[f->len] = '\0';
	return inet_pton(AF_INET, buf, addr) == 1;
}

/* Printable ASCII, not too long: so that the spec can go into an error message as it is. */
static int hostfwd_check_chars(const char *spec, char *err, size_t errlen)
{
	size_t len = strnlen(spec, NET_HOSTFWD_SPEC_MAX + 1);

	if (len == 0) {
		log_set_err(err, errlen, "hostfwd: empty spec (expected %s)", HOSTFWD_SYNTAX);
		return -EINVAL;
	}
	if (len > NET_HOSTFWD_SPEC_MAX) {
		log_set_err(err, errlen, "hostfwd: spec longer than %d characters",
			    NET_HOSTFWD_SPEC_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)spec[i];

		if (c <= ' ' || c > '~') {
			log_set_err(err, errlen,
				    "hostfwd: unexpected character 0x%02x at offset %zu", c, i);
			return -EINVAL;
		}
	}
	return 0;
}

int net_hostfwd_parse(const char *spec, struct net_hostfwd *out, char *err, size_t errlen)
{
	struct hostfwd_field proto, haddr, hport, gaddr, gport;
	struct net_hostfwd fwd = { 0 };
	size_t pos = 0;
	int r = hostfwd_check_chars(spec, err, errlen);

	if (r)
		return r;
	if (!hostfwd_next_field(spec, &pos, ':', &proto) ||
	    !hostfwd_next_field(spec, &pos, ':', &haddr) ||
	    !hostfwd_next_field(spec, &pos, '-', &hport) ||
	    !hostfwd_next_field(spec, &pos, ':', &gaddr)) {
		log_set_err(err, errlen, "hostfwd %s: expected %s", spec, HOSTFWD_SYNTAX);
		return -EINVAL;
	}
	gport = (struct hostfwd_field){ spec + pos, strlen(spec + pos) };

	if (hostfwd_field_is(&proto, "udp")) {
		fwd.udp = true;
	} else if (proto.len != 0 && !hostfwd_field_is(&proto, "tcp")) {
		log_set_err(err, errlen, "hostfwd %s: bad protocol '%.*s' (tcp or udp)", spec,
			    (int)proto.len, proto.start);
		return -EINVAL;
	}
	/* Loopback, not QEMU's INADDR_ANY: an open port on every interface must be asked for. */
	if (!hostfwd_parse_addr(&haddr, htonl(INADDR_LOOPBACK), &fwd.host_addr)) {
		log_set_err(err, errlen, "hostfwd %s: bad host address '%.*s'", spec,
			    (int)haddr.len, haddr.start);
		return -EINVAL;
	}
	if (!hostfwd_parse_port(&hport, &fwd.host_port)) {
		log_set_err(err, errlen, "hostfwd %s: bad host port '%.*s' (1-65535)", spec,
			    (int)hport.len, hport.start);
		return -EINVAL;
	}
	if (!hostfwd_parse_addr(&gaddr, 0, &fwd.guest_addr)) {
		log_set_err(err, errlen, "hostfwd %s: bad guest address '%.*s'", spec,
			    (int)gaddr.len, gaddr.start);
		return -EINVAL;
	}
	if (!hostfwd_parse_port(&gport, &fwd.guest_port)) {
		log_set_err(err, errlen, "hostfwd %s: bad guest port '%.*s' (1-65535)", spec,
			    (int)gport.len, gport.start);
		return -EINVAL;
	}
	*out = fwd;
	return 0;
}

int net_hostfwd_format(const struct net_hostfwd *fwd, char *buf, size_t len)
{
	char host[INET_ADDRSTRLEN] = "", guest[INET_ADDRSTRLEN] = "";

	if (fwd->host_addr.s_addr != htonl(INADDR_LOOPBACK))
		inet_ntop(AF_INET, &fwd->host_addr, host, sizeof(host));
	if (fwd->guest_addr.s_addr != 0)
		inet_ntop(AF_INET, &fwd->guest_addr, guest, sizeof(guest));
	return snprintf(buf, len, "%s:%s:%u-%s:%u", fwd->udp ? "udp" : "tcp", host, fwd->host_port,
			guest, fwd->guest_port);
}
