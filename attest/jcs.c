#include "attest/jcs.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct text {
	char *data;
	size_t len, cap;
	bool failed;
};

static void put(struct text *t, const char *s, size_t n)
{
	if (t->failed)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 128;
		while (cap < t->len + n + 1)
			cap *= 2;
		char *p = realloc(t->data, cap);
		if (!p) {
			t->failed = true;
			return;
		}
		t->data = p;
		t->cap = cap;
	}
	memcpy(t->data + t->len, s, n);
	t->len += n;
	t->data[t->len] = 0;
}

static void puts_(struct text *t, const char *s)
{
	put(t, s, strlen(s));
}

/* ---- numbers: ECMAScript Number::toString (RFC 8785 §3.2.2.3) ---- */

/* The shortest decimal digits that read back as d (d > 0, finite), and the exponent n such
 * that d = 0.digits × 10^n. */
static void shortest_digits(double d, char digits[20], int *n)
{
	char buf[40];
	for (int precision = 1; precision <= 17; precision++) {
		snprintf(buf, sizeof(buf), "%.*e", precision - 1, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	/* buf is "D.DDDDe±XX" or "De±XX" */
	char *e = strchr(buf, 'e');
	int k = 0;
	for (char *p = buf; p < e; p++)
		if (*p != '.')
			digits[k++] = *p;
	while (k > 1 && digits[k - 1] == '0')
		k--;
	digits[k] = 0;
	*n = atoi(e + 1) + 1;
}

static void put_number(struct text *t, double d)
{
	if (d == 0) { /* also -0 */
		puts_(t, "0");
		return;
	}
	if (d < 0) {
		puts_(t, "-");
		d = -d;
	}
	char digits[20];
	int n;
	shortest_digits(d, digits, &n);
	int k = (int)strlen(digits);
	char out[64];
	if (k <= n && n <= 21) {
		snprintf(out, sizeof(out), "%s%.*s", digits, n - k, "000000000000000000000");
	} else if (0 < n && n <= 21) {
		snprintf(out, sizeof(out), "%.*s.%s", n, digits, digits + n);
	} else if (-6 < n && n <= 0) {
		snprintf(out, sizeof(out), "0.%.*s%s", -n, "000000", digits);
	} else {
		int e = n - 1;
		snprintf(out, sizeof(out), "%c%s%se%c%d", digits[0], k > 1 ? "." : "", digits + 1,
			 e < 0 ? '-' : '+', e < 0 ? -e : e);
	}
	puts_(t, out);
}

/* ---- strings ---- */

/* Decode one UTF-8 code point at *p (advancing it); -1 on invalid UTF-8 (overlong forms,
 * surrogates, values past U+10FFFF, truncation). */
static long next_code_point(const unsigned char **p)
{
	const unsigned char *s = *p;
	long cp;
	int extra;
	if (s[0] < 0x80) {
		cp = s[0];
		extra = 0;
	} else if ((s[0] & 0xe0) == 0xc0) {
		cp = s[0] & 0x1f;
		extra = 1;
	} else if ((s[0] & 0xf0) == 0xe0) {
		cp = s[0] & 0x0f;
		extra = 2;
	} else if ((s[0] & 0xf8) == 0xf0) {
		cp = s[0] & 0x07;
		extra = 3;
	} else {
		return -1;
	}
	for (int i = 1; i <= extra; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	static const long min_for_length[] = { 0, 0x80, 0x800, 0x10000 };
	if (cp < min_for_length[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*p = s + 1 + extra;
	return cp;
}

static bool valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p)
		if (next_code_point(&p) < 0)
			return false;
	return true;
}

static void put_string(struct text *t, const char *s)
{
	if (!valid_utf8(s)) {
		t->failed = true;
		return;
	}
	puts_(t, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		switch (*p) {
		case '"': puts_(t, "\\\""); break;
		case '\\': puts_(t, "\\\\"); break;
		case '\b': puts_(t, "\\b"); break;
		case '\f': puts_(t, "\\f"); break;
		case '\n': puts_(t, "\\n"); break;
		case '\r': puts_(t, "\\r"); break;
		case '\t': puts_(t, "\\t"); break;
		default:
			if (*p < 0x20) {
				snprintf(esc, sizeof(esc), "\\u%04x", *p);
				puts_(t, esc);
			} else {
				put(t, (const char *)p, 1);
			}
		}
	}
	puts_(t, "\"");
}

/* ---- property order: UTF-16 code units (RFC 8785 §3.2.3) ---- */

struct utf16_reader {
	const unsigned char *p;
	unsigned pending_low; /* second unit of a surrogate pair, or 0 */
};

/* The next UTF-16 code unit, or -1 at the end. Strings were validated before sorting. */
static long next_unit(struct utf16_reader *r)
{
	if (r->pending_low) {
		unsigned u = r->pending_low;
		r->pending_low = 0;
		return u;
	}
	if (!*r->p)
		return -1;
	long cp = next_code_point(&r->p);
	if (cp < 0x10000)
		return cp;
	cp -= 0x10000;
	r->pending_low = 0xdc00 | (cp & 0x3ff);
	return 0xd800 | (cp >> 10);
}

static int utf16_compare(const char *a, const char *b)
{
	struct utf16_reader ra = { (const unsigned char *)a, 0 }, rb = { (const unsigned char *)b, 0 };
	for (;;) {
		long ua = next_unit(&ra), ub = next_unit(&rb);
		if (ua != ub)
			return ua < ub ? -1 : 1;
		if (ua < 0)
			return 0;
	}
}

static int compare_members(const void *a, const void *b)
{
	const cJSON *ma = *(const cJSON *const *)a, *mb = *(const cJSON *const *)b;
	return utf16_compare(ma->string, mb->string);
}

static void put_value(struct text *t, const cJSON *v);

static void put_object(struct text *t, const cJSON *obj)
{
	size_t count = 0;
	for (const cJSON *m = obj->child; m; m = m->next) {
		if (!m->string || !valid_utf8(m->string)) {
			t->failed = true;
			return;
		}
		count++;
	}
	const cJSON **members = malloc((count ? count : 1) * sizeof(*members));
	if (!members) {
		t->failed = true;
		return;
	}
	size_t i = 0;
	for (const cJSON *m = obj->child; m; m = m->next)
		members[i++] = m;
	qsort(members, count, sizeof(*members), compare_members);
	puts_(t, "{");
	for (i = 0; i < count && !t->failed; i++) {
		if (i > 0 && !utf16_compare(members[i - 1]->string, members[i]->string))
			t->failed = true; /* duplicate property names have no canonical form */
		if (i > 0)
			puts_(t, ",");
		put_string(t, members[i]->string);
		puts_(t, ":");
		put_value(t, members[i]);
	}
	puts_(t, "}");
	free(members);
}

static void put_value(struct text *t, const cJSON *v)
{
	if (t->failed)
		return;
	if (cJSON_IsNull(v)) {
		puts_(t, "null");
	} else if (cJSON_IsTrue(v)) {
		puts_(t, "true");
	} else if (cJSON_IsFalse(v)) {
		puts_(t, "false");
	} else if (cJSON_IsNumber(v)) {
		if (!isfinite(v->valuedouble))
			t->failed = true;
		else
			put_number(t, v->valuedouble);
	} else if (cJSON_IsString(v)) {
		put_string(t, v->valuestring);
	} else if (cJSON_IsArray(v)) {
		puts_(t, "[");
		for (const cJSON *e = v->child; e && !t->failed; e = e->next) {
			if (e != v->child)
				puts_(t, ",");
			put_value(t, e);
		}
		puts_(t, "]");
	} else if (cJSON_IsObject(v)) {
		put_object(t, v);
	} else {
		t->failed = true; /* cJSON_Raw and invalid nodes */
	}
}

char *jcs_serialize(const cJSON *value)
{
	struct text t = { 0 };
	if (!value)
		return NULL;
	put_value(&t, value);
	if (t.failed) {
		free(t.data);
		return NULL;
	}
	return t.data;
}

int jcs_sha384(const cJSON *value, uint8_t out[JCS_SHA384_LEN])
{
	char *text = jcs_serialize(value);
	if (!text)
		return -1;
	unsigned int len = 0;
	int ok = EVP_Digest(text, strlen(text), out, &len, EVP_sha384(), NULL);
	free(text);
	return ok && len == JCS_SHA384_LEN ? 0 : -1;
}
