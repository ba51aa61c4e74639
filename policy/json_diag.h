/*
 * Diagnostics for JSON configuration files: an accumulator of errors and warnings that each name
 * the file and the JSON path, a short description of a found value for "expected X, got Y"
 * messages, and a strict JSON scanner that locates a syntax error by line and column and says
 * what was expected there.
 */
#ifndef TNGWG_POLICY_JSON_DIAG_H
#define TNGWG_POLICY_JSON_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

#define JSON_PATH_MAX 256

struct diag {
	const char *file;
	char **errors, **warnings; /* "FILE: PATH: message" */
	size_t n_errors, n_warnings;
	bool out_of_memory;
};

void diag_error(struct diag *d, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void diag_warn(struct diag *d, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "FILE:LINE:COLUMN: message", for errors that have a position rather than a path. */
void diag_error_at(struct diag *d, unsigned line, unsigned column, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Errors joined by newlines into buf (truncated to fit). */
void diag_join_errors(const struct diag *d, char *buf, size_t len);
/* Hand the warnings over to the caller (who frees each and the array); the diag keeps none. */
char **diag_take_warnings(struct diag *d, size_t *n);
void diag_free(struct diag *d);

/* "parent.key" (or "key" at the top) and "parent[i]" into out (JSON_PATH_MAX bytes). */
void json_path_key(char *out, const char *parent, const char *key);
void json_path_index(char *out, const char *parent, size_t i);


/*
 * Typed readers. Each checks v's type (and range) and on a mismatch reports
 * "PATH: expected <what>, got <v>" and returns false. `expected` NULL means the default wording.
 */
/* The member `key` of obj (case-sensitive, as serde is), or NULL. */
const struct cJSON *json_field(const struct cJSON *obj, const char *key);
/* Reports "PATH: expected <expected>, got <v>". */
void json_report_expected(struct diag *d, const struct cJSON *v, const char *path,
			  const char *expected);
bool json_expect_object(struct diag *d, const struct cJSON *v, const char *path);
bool json_read_uint(struct diag *d, const struct cJSON *v, const char *path, uint64_t min,
		    uint64_t max, const char *expected, uint64_t *out);
bool json_read_bool(struct diag *d, const struct cJSON *v, const char *path, bool *out);
/* A non-empty string, copied into *out (malloc'd). */
bool json_read_string(struct diag *d, const struct cJSON *v, const char *path, const char *expected,
		      char **out);
/* An array of non-empty strings (copied); `nonempty` requires at least one. */
bool json_read_string_array(struct diag *d, const struct cJSON *v, const char *path, bool nonempty,
			    char ***out, size_t *n);
void json_free_strings(char **list, size_t n);
/* Calls fn with each element of the array v and its path "path[i]"; true when every call was. */
typedef bool (*json_item_fn)(struct diag *d, const struct cJSON *item, const char *path, size_t i,
			     void *ctx);
bool json_for_each_item(struct diag *d, const struct cJSON *v, const char *path, json_item_fn fn,
			void *ctx);
/* Reports every key of obj not in `allowed` (NULL-terminated) and every repeated key. */
bool json_check_keys(struct diag *d, const struct cJSON *obj, const char *path,
		     const char *const *allowed);

/*
 * Scan text as strict JSON. Returns true when it is valid; else fills line and column (1-based,
 * columns in characters) of the first error and a message such as "expected ',' or ']', got '\"'".
 */
bool json_find_syntax_error(const char *text, unsigned *line, unsigned *column, char *msg,
			    size_t msglen);

#endif
