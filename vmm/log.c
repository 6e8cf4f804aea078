/* Rate limiting for log lines a guest can trigger (10 per 5 s per call site). */
#include "vmm/log.h"

#include <pthread.h>
#include <stdarg.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

bool log_ratelimit_allow(struct log_ratelimit *rl, unsigned burst, unsigned interval)
{
	struct timespec now;
	bool allow;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&log_lock);
	if (now.tv_sec - rl->window_start >= (time_t)interval) {
		if (rl->suppressed)
			fprintf(stderr, "hutch: (%u similar messages suppressed)\n",
				rl->suppressed);
		rl->window_start = now.tv_sec;
		rl->count = 0;
		rl->suppressed = 0;
	}
	allow = rl->count < burst;
	if (allow)
		rl->count++;
	else
		rl->suppressed++;
	pthread_mutex_unlock(&log_lock);
	return allow;
}

void log_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
