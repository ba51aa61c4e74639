/*
 * Logging to stderr, one line per event: time, level, subsystem, and for events about a peer its
 * address, state and the reason, then the message. As text by default, or one JSON object per
 * line with TNGWG_LOG_FORMAT=json (for log collectors).
 */
#ifndef TNGWG_COMMON_LOG_H
#define TNGWG_COMMON_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Messages above this level are dropped; set from TNGWG_LOG (error|warn|info|debug). The format
 * comes from TNGWG_LOG_FORMAT (text|json). */
void log_init_from_env(void);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_set_json(int json);

/* What an event is about; any field may be NULL. */
struct log_fields {
	const char *peer;   /* the peer's address */
	const char *state;  /* its state after the event */
	const char *reason; /* why, as a stable token (e.g. verification_failed) */
};

void log_msg(enum log_level level, const char *subsystem, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_event(enum log_level level, const char *subsystem, const struct log_fields *fields,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_error(sub, ...) log_msg(LOG_ERROR, sub, __VA_ARGS__)
#define log_warn(sub, ...)  log_msg(LOG_WARN, sub, __VA_ARGS__)
#define log_info(sub, ...)  log_msg(LOG_INFO, sub, __VA_ARGS__)
#define log_debug(sub, ...) do { if (log_get_level() >= LOG_DEBUG) log_msg(LOG_DEBUG, sub, __VA_ARGS__); } while (0)

#endif
