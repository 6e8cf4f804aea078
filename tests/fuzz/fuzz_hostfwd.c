/*
 * Fuzz target for the hostfwd spec parser (devices/net/hostfwd.c), the
 * text a user gives as "hostfwd=tcp::2222-:22".
 *
 * The input is one control byte, then the spec:
 *
 *   byte 0   the size of the error buffer (0: err is NULL)
 *   rest     the spec, up to its first NUL (copied, so always terminated)
 *
 * Whatever the spec, the parser returns 0 or -EINVAL; on -EINVAL *out is
 * untouched and the message is one terminated line inside the buffer; on
 * 0 both ports are non-zero, the spec was short and printable, and
 * net_hostfwd_format() writes a spec that parses back to the same forward
 * and formats to the same text.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/net/hostfwd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "fuzz_hostfwd: %s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #cond);                                                \
			abort();                                                                 \
		}                                                                                \
	} while (0)

static int same_fwd(const struct net_hostfwd *a, const struct net_hostfwd *b)
{
	return a->udp == b->udp && a->host_addr.s_addr == b->host_addr.s_addr &&
	       a->host_port == b->host_port && a->guest_addr.s_addr == b->guest_addr.s_addr &&
	       a->guest_port == b->guest_port;
}

static void check_round_trip(const char *spec, const struct net_hostfwd *fwd)
{
	char text[NET_HOSTFWD_SPEC_MAX + 1], again[NET_HOSTFWD_SPEC_MAX + 1], err[256];
	struct net_hostfwd back;
	int n = net_hostfwd_format(fwd, text, sizeof(text));

	CHECK(strlen(spec) <= NET_HOSTFWD_SPEC_MAX);
	for (const char *c = spec; *c; c++)
		CHECK(*c > ' ' && *c <= '~');
	CHECK(fwd->host_port != 0 && fwd->guest_port != 0);
	CHECK(n > 0 && (size_t)n < sizeof(text));
	CHECK(net_hostfwd_parse(text, &back, err, sizeof(err)) == 0);
	CHECK(same_fwd(fwd, &back));
	CHECK(net_hostfwd_format(&back, again, sizeof(again)) == n);
	CHECK(strcmp(text, again) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct net_hostfwd out, untouched;
	size_t errlen, len;
	char *spec, *err;
	int ret;

	if (size < 1)
		return 0;
	errlen = data[0];
	len = strnlen((const char *)data + 1, size - 1);
	spec = malloc(len + 1);
	err = errlen ? malloc(errlen) : NULL;
	CHECK(spec && (err || !errlen));
	memcpy(spec, data + 1, len);
	spec[len] = '\0';
	if (err)
		memset(err, 'X', errlen);
	memset(&out, 0xa5, sizeof(out));
	untouched = out;

	ret = net_hostfwd_parse(spec, &out, err, errlen);
	CHECK(ret == 0 || ret == -EINVAL);
	if (ret == 0) {
		check_round_trip(spec, &out);
	} else {
		CHECK(memcmp(&out, &untouched, sizeof(out)) == 0);
		if (err) {
			size_t msg = strnlen(err, errlen);

			CHECK(msg < errlen);
			CHECK(errlen == 1 || msg > 0);
			CHECK(!memchr(err, '\n', msg));
		}
	}
	free(err);
	free(spec);
	return 0;
}
