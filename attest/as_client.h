/*
 * REST client of the Trustee Attestation Service on libcurl's multi interface, driven by the
 * caller's loop (sockets and timers registered there), so a slow AS never blocks anything else.
 */
#ifndef TNGWG_ATTEST_AS_CLIENT_H
#define TNGWG_ATTEST_AS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct loop;
struct as_client;
struct as_call;

struct as_client_config {
	const char *as_addr;               /* http://host:port[/prefix] or https://… */
	const char *const *headers;        /* extra "Name: value" headers */
	size_t n_headers;
	const char *ca_file;               /* https: CA bundle, NULL = system CAs */
	uint64_t timeout_ns;               /* total per call (connect is capped at 5 s) */
	uint32_t so_mark;                  /* SO_MARK on the connections (the bypass mark); 0 = none */
};

/* NULL with a reason in err for an address that is not http(s)://. */
struct as_client *as_client_new(struct loop *loop, const struct as_client_config *cfg, char *err,
				size_t errlen);
/* Cancels every pending call; safe from inside a reply callback. */
void as_client_free(struct as_client *c);

enum as_outcome {
	AS_OK,             /* HTTP 200; body is the reply */
	AS_UNREACHABLE,    /* connect, DNS or TLS failure */
	AS_TIMEOUT,        /* no complete reply before the deadline */
	AS_HTTP_ERROR,     /* another HTTP status; body is the AS's error text */
	AS_BAD_REPLY,      /* too large or cut off */
};

/* Valid only during the callback. */
struct as_reply {
	enum as_outcome outcome;
	long http_status;
	const char *body;                  /* NUL-terminated */
	size_t body_len;
	const char *message;               /* human summary of a failure */
};
typedef void (*as_reply_fn)(void *ctx, const struct as_reply *r);

struct as_attestation {
	const char *tee;
	const uint8_t *evidence;
	size_t evidence_len;
	const uint8_t *additional_evidence;  /* AA's {"<tee>": evidence, …} JSON, or empty */
	size_t additional_len;
	const cJSON *runtime_data;           /* structured runtime data, hashed with sha384 by the AS */
	const char *const *policy_ids;
	size_t n_policy_ids;
};

#define AS_MAX_REPLY (1u << 20)

/*
 * POST {as_addr}/attestation in the current schema; when the AS answers 400 "missing field `tee`"
 * (Trustee before v0.14) the request is sent once more in the flat legacy schema. done runs
 * exactly once unless cancelled, never from inside this call. NULL when out of memory.
 */
struct as_call *as_client_attest(struct as_client *c, const struct as_attestation *a,
				 as_reply_fn done, void *ctx);
/* GET {as_addr}{path}. */
struct as_call *as_client_get(struct as_client *c, const char *path, as_reply_fn done, void *ctx);
void as_call_cancel(struct as_call *call);

#endif
