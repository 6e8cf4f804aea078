/* Logging that a guest cannot turn into a flood. */
#ifndef HUTCH_VMM_LOG_H
#define HUTCH_VMM_LOG_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

/* At most 'burst' messages per 'interval' seconds for one call site. */
struct log_ratelimit {
	time_t window_start;
	unsigned count;
	unsigned suppressed;
};

bool log_ratelimit_allow(struct log_ratelimit *rl, unsigned burst, unsigned interval);

#define LOG_RATELIMITED(fmt, ...)                                         \
	do {                                                              \
		static struct log_ratelimit rl_;                          \
		if (log_ratelimit_allow(&rl_, 10, 5))                     \
			fprintf(stderr, "hutch: " fmt "\n", __VA_ARGS__); \
	} while (0)

#endif
