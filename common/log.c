#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_level current_level = LOG_INFO;
static int json_format;

void log_set_level(enum log_level level) { current_level = level; }
enum log_level log_get_level(void) { return current_level; }
void log_set_json(int json) { json_format = json; }

void log_init_from_env(void)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	const char *v = getenv("TNGWG_LOG");
	for (int i = 0; v && i < 4; i++)
		if (!strcmp(v, names[i]))
			current_level = (enum log_level)i;
	v = getenv("TNGWG_LOG_FORMAT");
	json_format = v && !strcmp(v, "json");
}

/* Text from peers and services ends up here: one message is one line, whatever it holds. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* Bytes that are no part of a well-formed UTF-8 sequence become '?', so that a JSON line stays
 * valid whatever an AS or peer put into the message. */
static void utf8_clean(unsigned char *s)
{
	while (*s) {
		int more = *s < 0x80 ? 0 : (*s & 0xe0) == 0xc0 && *s >= 0xc2 ? 1 : (*s & 0xf0) == 0xe0 ? 2
			 : (*s & 0xf8) == 0xf0 && *s <= 0xf4 ? 3 : -1;
		int ok = more >= 0;
		for (int i = 1; ok && i <= more; i++)
			ok = (s[i] & 0xc0) == 0x80;
		if (!ok) {
			*s++ = '?';
			continue;
		}
		s += more + 1;
	}
}

/* A JSON string of s (already one line), quotes included. */
static void put_json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static void emit(enum log_level level, const char *subsystem, const struct log_fields *f, char *message)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	one_line(message);
	if (json_format)
		utf8_clean((unsigned char *)message);
	char line[1400];
	FILE *out = fmemopen(line, sizeof(line), "w");
	if (!out)
		return;
	if (json_format) {
		fprintf(out, "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"subsystem\":",
			tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			ts.tv_nsec / 1000000, names[level]);
		put_json_string(out, subsystem);
		const char *keys[] = { "peer", "state", "reason" };
		const char *values[] = { f ? f->peer : NULL, f ? f->state : NULL, f ? f->reason : NULL };
		for (int i = 0; i < 3; i++)
			if (values[i]) {
				fprintf(out, ",\"%s\":", keys[i]);
				put_json_string(out, values[i]);
			}
		fputs(",\"message\":", out);
		put_json_string(out, message);
		fputc('}', out);
	} else {
		fprintf(out, "%02d:%02d:%02d.%03ld %-5s %s: ", tm.tm_hour, tm.tm_min, tm.tm_sec,
			ts.tv_nsec / 1000000, names[level], subsystem);
		if (f && f->peer)
			fprintf(out, "%s (%s%s%s): ", f->peer, f->state ? f->state : "", f->state && f->reason ? ", " : "",
				f->reason ? f->reason : "");
		fputs(message, out);
	}
	fputc('\0', out);
	fclose(out);
	line[sizeof(line) - 1] = '\0';
	fprintf(stderr, "%s\n", line);
}

static void vlog(enum log_level level, const char *subsystem, const struct log_fields *fields, const char *fmt,
		 va_list ap)
{
	char message[1024];
	vsnprintf(message, sizeof(message), fmt, ap);
	emit(level, subsystem, fields, message);
}

void log_msg(enum log_level level, const char *subsystem, const char *fmt, ...)
{
	if (level > current_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(level, subsystem, NULL, fmt, ap);
	va_end(ap);
}

void log_event(enum log_level level, const char *subsystem, const struct log_fields *fields,
	       const char *fmt, ...)
{
	if (level > current_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(level, subsystem, fields, fmt, ap);
	va_end(ap);
}
