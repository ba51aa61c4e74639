#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_level current_level = LOG_INFO;

void log_set_level(enum log_level level) { current_level = level; }
enum log_level log_get_level(void) { return current_level; }

void log_init_from_env(void)
{
	const char *v = getenv("TNGWG_LOG");
	if (!v)
		return;
	if (!strcmp(v, "error"))
		current_level = LOG_ERROR;
	else if (!strcmp(v, "warn"))
		current_level = LOG_WARN;
	else if (!strcmp(v, "info"))
		current_level = LOG_INFO;
	else if (!strcmp(v, "debug"))
		current_level = LOG_DEBUG;
}

void log_msg(enum log_level level, const char *subsystem, const char *fmt, ...)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	if (level > current_level)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char line[1024];
	int n = snprintf(line, sizeof(line), "%02d:%02d:%02d.%03ld %-5s %s: ", tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, names[level], subsystem);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* Text from peers and services ends up here: one message is one line, whatever it holds. */
	for (char *c = line; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	fprintf(stderr, "%s\n", line);
}
