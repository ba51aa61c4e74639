#include "policy/json_diag.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void diag_add(struct diag *d, char ***list, size_t *n, const char *path, const char *fmt,
		     va_list ap)
{
	char msg[768], line[1100];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (path && *path)
		snprintf(line, sizeof(line), "%s: %s: %s", d->file, path, msg);
	else
		snprintf(line, sizeof(line), "%s: %s", d->file, msg);
	char **grown = realloc(*list, (*n + 1) * sizeof(**list));
	char *copy = strdup(line);
	if (!grown || !copy) {
		free(copy);
		if (grown)
			*list = grown;
		d->out_of_memory = true;
		return;
	}
	*list = grown;
	grown[(*n)++] = copy;
}

void diag_error(struct diag *d, const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_add(d, &d->errors, &d->n_errors, path, fmt, ap);
	va_end(ap);
}

void diag_warn(struct diag *d, const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_add(d, &d->warnings, &d->n_warnings, path, fmt, ap);
	va_end(ap);
}

void diag_error_at(struct diag *d, unsigned line, unsigned column, const char *fmt, ...)
{
	char where[64];
	const char *file = d->file;
	snprintf(where, sizeof(where), "%u:%u", line, column);
	va_list ap;
	va_start(ap, fmt);
	/* diag_add writes "FILE: PATH: ..."; with the position as the file it becomes "FILE:L:C: ...". */
	char located[1024];
	snprintf(located, sizeof(located), "%s:%s", file, where);
	d->file = located;
	diag_add(d, &d->errors, &d->n_errors, NULL, fmt, ap);
	d->file = file;
	va_end(ap);
}

void diag_join_errors(const struct diag *d, char *buf, size_t len)
{
	size_t used = 0;
	if (!len)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < d->n_errors && used + 1 < len; i++) {
		int n = snprintf(buf + used, len - used, "%s%s", i ? "\n" : "", d->errors[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (d->out_of_memory && used + 1 < len)
		snprintf(buf + used, len - used, "%sout of memory while collecting errors",
			 used ? "\n" : "");
}

char **diag_take_warnings(struct diag *d, size_t *n)
{
	char **w = d->warnings;
	*n = d->n_warnings;
	d->warnings = NULL;
	d->n_warnings = 0;
	return w;
}

static void free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void diag_free(struct diag *d)
{
	free_list(d->errors, d->n_errors);
	free_list(d->warnings, d->n_warnings);
	d->errors = d->warnings = NULL;
	d->n_errors = d->n_warnings = 0;
}

/* Keeps every message on one line whatever the file's keys and strings contain. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20)
			*s = '?';
}

void json_path_key(char *out, const char *parent, const char *key)
{
	if (parent && *parent)
		snprintf(out, JSON_PATH_MAX, "%s.%s", parent, key);
	else
		snprintf(out, JSON_PATH_MAX, "%s", key);
	one_line(out);
}

void json_path_index(char *out, const char *parent, size_t i)
{
	snprintf(out, JSON_PATH_MAX, "%s[%zu]", parent ? parent : "", i);
}

/* A short description of v for messages: "x" (quoted, shortened), 42, true, null, an object. */
static void json_describe(const struct cJSON *v, char *out, size_t len)
{
	if (cJSON_IsString(v)) {
		const char *s = v->valuestring;
		if (strlen(s) > 40)
			snprintf(out, len, "\"%.37s...\"", s);
		else
			snprintf(out, len, "\"%s\"", s);
		one_line(out);
	} else if (cJSON_IsNumber(v)) {
		snprintf(out, len, "%.17g", v->valuedouble);
	} else if (cJSON_IsTrue(v)) {
		snprintf(out, len, "true");
	} else if (cJSON_IsFalse(v)) {
		snprintf(out, len, "false");
	} else if (cJSON_IsNull(v)) {
		snprintf(out, len, "null");
	} else if (cJSON_IsArray(v)) {
		snprintf(out, len, "an array");
	} else {
		snprintf(out, len, "an object");
	}
}

/* ---- strict JSON scanner, for locating syntax errors ---- */

#define JSON_MAX_DEPTH 1000 /* cJSON's nesting limit */

struct scan {
	const char *p;
	const char *error_at;
	const char *expected;
};

static bool scan_fail(struct scan *s, const char *expected)
{
	s->error_at = s->p;
	s->expected = expected;
	return false;
}

static void scan_ws(struct scan *s)
{
	while (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')
		s->p++;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* s->p at the 'u' of a \\u escape: reads its code unit and moves past it. */
static bool scan_hex4(struct scan *s, unsigned *unit)
{
	*unit = 0;
	for (int i = 1; i <= 4; i++) {
		char c = s->p[i];
		if (!is_hex(c)) {
			s->p += i;
			return scan_fail(s, "4 hex digits after \\u");
		}
		*unit = *unit << 4 | (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	s->p += 5;
	return true;
}

/* UTF-16 surrogates must pair up (cJSON refuses the string otherwise). */
static bool scan_unicode_escape(struct scan *s)
{
	unsigned unit, low;
	if (!scan_hex4(s, &unit))
		return false;
	if (unit >= 0xdc00 && unit <= 0xdfff) {
		s->p -= 6;
		return scan_fail(s, "a \\u escape other than an unpaired low surrogate (\\uDC00-\\uDFFF)");
	}
	if (unit < 0xd800 || unit > 0xdbff)
		return true;
	if (s->p[0] != '\\' || s->p[1] != 'u')
		return scan_fail(s, "a \\uDC00-\\uDFFF escape completing the surrogate pair");
	const char *second = s->p;
	s->p++;
	if (!scan_hex4(s, &low))
		return false;
	if (low < 0xdc00 || low > 0xdfff) {
		s->p = second;
		return scan_fail(s, "a \\uDC00-\\uDFFF escape completing the surrogate pair");
	}
	return true;
}

static bool scan_string(struct scan *s)
{
	s->p++; /* opening quote */
	for (;;) {
		unsigned char c = (unsigned char)*s->p;
		if (c == '"') {
			s->p++;
			return true;
		}
		if (c == '\0')
			return scan_fail(s, "'\"' closing the string");
		if (c < 0x20)
			return scan_fail(s, "'\"' or a character (control characters must be escaped)");
		if (c == '\\') {
			s->p++;
			if (*s->p == 'u') {
				if (!scan_unicode_escape(s))
					return false;
				continue;
			}
			if (!*s->p || !strchr("\"\\/bfnrt", *s->p))
				return scan_fail(s, "an escape character (one of \"\\/bfnrtu)");
		}
		s->p++;
	}
}

static bool scan_digits(struct scan *s)
{
	if (*s->p < '0' || *s->p > '9')
		return scan_fail(s, "a digit");
	while (*s->p >= '0' && *s->p <= '9')
		s->p++;
	return true;
}

static bool scan_number(struct scan *s)
{
	if (*s->p == '-')
		s->p++;
	if (*s->p == '0')
		s->p++;
	else if (!scan_digits(s))
		return false;
	if (*s->p == '.') {
		s->p++;
		if (!scan_digits(s))
			return false;
	}
	if (*s->p == 'e' || *s->p == 'E') {
		s->p++;
		if (*s->p == '+' || *s->p == '-')
			s->p++;
		if (!scan_digits(s))
			return false;
	}
	return true;
}

static bool scan_value(struct scan *s, int depth);

static bool scan_members(struct scan *s, int depth)
{
	s->p++; /* '{' */
	scan_ws(s);
	if (*s->p == '}') {
		s->p++;
		return true;
	}
	for (;;) {
		if (*s->p != '"')
			return scan_fail(s, "a string key");
		if (!scan_string(s))
			return false;
		scan_ws(s);
		if (*s->p != ':')
			return scan_fail(s, "':' after the key");
		s->p++;
		if (!scan_value(s, depth))
			return false;
		scan_ws(s);
		if (*s->p == '}') {
			s->p++;
			return true;
		}
		if (*s->p != ',')
			return scan_fail(s, "',' or '}'");
		s->p++;
		scan_ws(s);
	}
}

static bool scan_elements(struct scan *s, int depth)
{
	s->p++; /* '[' */
	scan_ws(s);
	if (*s->p == ']') {
		s->p++;
		return true;
	}
	for (;;) {
		if (!scan_value(s, depth))
			return false;
		scan_ws(s);
		if (*s->p == ']') {
			s->p++;
			return true;
		}
		if (*s->p != ',')
			return scan_fail(s, "',' or ']'");
		s->p++;
	}
}

static bool scan_literal(struct scan *s, const char *word)
{
	size_t n = strlen(word);
	for (size_t i = 0; i < n; i++)
		if (s->p[i] != word[i]) {
			s->p += i;
			return scan_fail(s, "a value (object, array, string, number, true, false or null)");
		}
	s->p += n;
	return true;
}

static bool scan_value(struct scan *s, int depth)
{
	scan_ws(s);
	if (depth >= JSON_MAX_DEPTH)
		return scan_fail(s, "less nesting (over 1000 levels)");
	switch (*s->p) {
	case '{': return scan_members(s, depth + 1);
	case '[': return scan_elements(s, depth + 1);
	case '"': return scan_string(s);
	case 't': return scan_literal(s, "true");
	case 'f': return scan_literal(s, "false");
	case 'n': return scan_literal(s, "null");
	default:
		if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
			return scan_number(s);
		return scan_fail(s, "a value (object, array, string, number, true, false or null)");
	}
}

static void describe_char(const char *p, char *out, size_t len)
{
	unsigned char c = (unsigned char)*p;
	if (c == '\0')
		snprintf(out, len, "end of file");
	else if (c == '\'')
		snprintf(out, len, "\"'\"");
	else if (c >= 0x20 && c < 0x7f)
		snprintf(out, len, "'%c'", c);
	else
		snprintf(out, len, "byte 0x%02x", c);
}

bool json_find_syntax_error(const char *text, unsigned *line, unsigned *column, char *msg,
			    size_t msglen)
{
	struct scan s = { .p = text };
	bool ok = scan_value(&s, 0);
	if (ok) {
		scan_ws(&s);
		if (!*s.p)
			return true;
		scan_fail(&s, "end of file after the top-level value");
	}
	*line = 1;
	*column = 1;
	for (const char *q = text; q < s.error_at; q++) {
		if (*q == '\n') {
			(*line)++;
			*column = 1;
		} else if (((unsigned char)*q & 0xc0) != 0x80) {
			(*column)++;
		}
	}
	char got[24];
	describe_char(s.error_at, got, sizeof(got));
	snprintf(msg, msglen, "expected %s, got %s", s.expected, got);
	return false;
}

/* ---- typed readers ---- */

const cJSON *json_field(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

void json_report_expected(struct diag *d, const cJSON *v, const char *path, const char *expected)
{
	char got[64];
	json_describe(v, got, sizeof(got));
	diag_error(d, path, "expected %s, got %s", expected, got);
}

bool json_expect_object(struct diag *d, const cJSON *v, const char *path)
{
	if (cJSON_IsObject(v))
		return true;
	json_report_expected(d, v, path, "an object");
	return false;
}

bool json_read_uint(struct diag *d, const cJSON *v, const char *path, uint64_t min, uint64_t max,
		    const char *expected, uint64_t *out)
{
	char range[64];
	if (!expected) {
		snprintf(range, sizeof(range), "an integer %llu-%llu", (unsigned long long)min,
			 (unsigned long long)max);
		expected = range;
	}
	/* Doubles hold integers exactly up to 2^53, far above every limit used here. */
	if (cJSON_IsNumber(v) && v->valuedouble >= (double)min && v->valuedouble <= (double)max &&
	    (double)(uint64_t)v->valuedouble == v->valuedouble) {
		*out = (uint64_t)v->valuedouble;
		return true;
	}
	json_report_expected(d, v, path, expected);
	return false;
}

bool json_read_bool(struct diag *d, const cJSON *v, const char *path, bool *out)
{
	if (cJSON_IsBool(v)) {
		*out = cJSON_IsTrue(v);
		return true;
	}
	json_report_expected(d, v, path, "true or false");
	return false;
}

bool json_read_string(struct diag *d, const cJSON *v, const char *path, const char *expected,
		      char **out)
{
	if (!cJSON_IsString(v) || !v->valuestring[0]) {
		json_report_expected(d, v, path, expected ? expected : "a non-empty string");
		return false;
	}
	*out = strdup(v->valuestring);
	if (!*out) {
		d->out_of_memory = true;
		return false;
	}
	return true;
}

void json_free_strings(char **list, size_t n)
{
	free_list(list, n);
}

bool json_for_each_item(struct diag *d, const cJSON *v, const char *path, json_item_fn fn,
			void *ctx)
{
	bool ok = true;
	size_t i = 0;
	const cJSON *item;
	cJSON_ArrayForEach(item, v) {
		char p[JSON_PATH_MAX];
		json_path_index(p, path, i);
		ok &= fn(d, item, p, i++, ctx);
	}
	return ok;
}

static bool read_string_item(struct diag *d, const cJSON *item, const char *path, size_t i,
			     void *list)
{
	return json_read_string(d, item, path, NULL, &((char **)list)[i]);
}

bool json_read_string_array(struct diag *d, const cJSON *v, const char *path, bool nonempty,
			    char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!cJSON_IsArray(v) || (nonempty && !cJSON_GetArraySize(v))) {
		json_report_expected(d, v, path,
				     nonempty ? "a non-empty array of strings" : "an array of strings");
		return false;
	}
	size_t count = (size_t)cJSON_GetArraySize(v);
	char **list = calloc(count ? count : 1, sizeof(*list));
	if (!list) {
		d->out_of_memory = true;
		return false;
	}
	if (!json_for_each_item(d, v, path, read_string_item, list)) {
		free_list(list, count);
		return false;
	}
	*out = list;
	*n = count;
	return true;
}

bool json_check_keys(struct diag *d, const cJSON *obj, const char *path,
		     const char *const *allowed)
{
	bool ok = true;
	const cJSON *item;
	cJSON_ArrayForEach(item, obj) {
		char p[JSON_PATH_MAX];
		json_path_key(p, path, item->string);
		bool known = false;
		for (const char *const *a = allowed; *a && !known; a++)
			known = !strcmp(*a, item->string);
		if (!known) {
			char list[512] = "";
			size_t used = 0;
			for (const char *const *a = allowed; *a && used < sizeof(list); a++)
				used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
							 a == allowed ? "" : ", ", *a);
			diag_error(d, p, "unknown field, expected one of: %s", list);
			ok = false;
		}
		for (const cJSON *prev = obj->child; prev != item; prev = prev->next)
			if (!strcmp(prev->string, item->string)) {
				diag_error(d, p, "duplicate field");
				ok = false;
				break;
			}
	}
	return ok;
}
