/* Logging that a guest cannot turn into a flood. */
#ifndef HUTCH_VMM_LOG_H
#define HUTCH_VMM_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

/* At most 'burst' messages per 'interval' seconds for one call site. */
struct log_ratelimit {
	time_t window_start;
	unsigned count;
	unsigned suppressed;
};

/*
 * Writes one error line for the caller into err (up to errlen bytes, NUL-
 * terminated): how parsers and openers of user input report why they refused.
 * Nothing when err is NULL or errlen 0.
 */
void log_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

bool log_ratelimit_allow(struct log_ratelimit *rl, unsigned burst, unsigned interval);

#define LOG_RATELIMITED(fmt, ...)                                         \
	do {                                                              \
		static struct log_ratelimit rl_;                          \
		if (log_ratelimit_allow(&rl_, 10, 5))                     \
			fprintf(stderr, "hutch: " fmt "\n", __VA_ARGS__); \
	} while (0)

#endif
