#include "attest/as_client.h"

#include "attest/b64.h"
#include "common/log.h"
#include "common/loop.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CONNECT_TIMEOUT_NS (5 * NSEC_PER_SEC)
#define LEGACY_SCHEMA_HINT "missing field `tee`"

struct as_client {
	struct loop *loop;
	CURLM *multi;
	struct loop_timer timer;
	char *base;                        /* as_addr without a trailing '/' */
	struct curl_slist *headers;
	struct curl_slist *resolved;       /* the AS host's addresses, pinned at start */
	char *ca_file;
	uint64_t timeout_ns;
	uint32_t so_mark;
	struct as_call *calls;
	int dispatching;                   /* > 0 while replies are being delivered */
	bool doomed;                       /* freed during delivery: destroy afterwards */
};

struct as_call {
	struct as_client *c;
	struct as_call *prev, *next;
	CURL *easy;
	char *url;
	char *body;                        /* POST body, NULL for GET */
	char *legacy_body;                 /* flat-schema body for one retry, else NULL */
	char *reply;
	size_t reply_len;
	bool oversized;
	uint64_t deadline_ns;
	char errbuf[CURL_ERROR_SIZE];
	as_reply_fn done;
	void *ctx;
};

/* ---- loop integration ---- */

static void collect_done(struct as_client *c);

static void drive(struct as_client *c, curl_socket_t fd, int flags)
{
	int running;
	curl_multi_socket_action(c->multi, fd, flags, &running);
	collect_done(c);
}

static void on_fd(void *ctx, int fd, unsigned events)
{
	drive(ctx, fd, (events & LOOP_READ ? CURL_CSELECT_IN : 0) | (events & LOOP_WRITE ? CURL_CSELECT_OUT : 0));
}

static void on_timer(void *ctx)
{
	drive(ctx, CURL_SOCKET_TIMEOUT, 0);
}

static int on_socket_change(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct as_client *c = userp;
	if (what == CURL_POLL_REMOVE)
		loop_unwatch(c->loop, fd);
	else
		loop_watch(c->loop, fd, (what & CURL_POLL_IN ? LOOP_READ : 0) | (what & CURL_POLL_OUT ? LOOP_WRITE : 0),
			   on_fd, c);
	return 0;
}

static int on_timer_change(CURLM *multi, long timeout_ms, void *userp)
{
	struct as_client *c = userp;
	if (timeout_ms < 0)
		loop_timer_cancel(c->loop, &c->timer);
	else
		loop_timer_arm_in(c->loop, &c->timer, (uint64_t)timeout_ms * NSEC_PER_MSEC);
	return 0;
}

/* ---- client ---- */

/*
 * A host name in as_addr is resolved now, once, and its addresses pinned for every call: a
 * daemon starts its clients before it installs its steering rules, and a later lookup would go
 * out without the bypass mark, into the overlay if a capture covers the resolver. An address
 * literal needs nothing. 0, or -1 with err set.
 */
static int pin_host(struct as_client *c, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL;
	int rc = -1;
	if (!u || curl_url_set(u, CURLUPART_URL, c->base, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		snprintf(err, errlen, "AS address \"%s\" is not a URL", c->base);
		goto done;
	}
	struct in6_addr literal;
	if (host[0] == '[' || inet_pton(AF_INET, host, &literal) == 1) {
		rc = 0;
		goto done;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *list = NULL;
	int gai = getaddrinfo(host, port, &hints, &list);
	if (gai != 0) {
		snprintf(err, errlen, "cannot resolve the AS host \"%s\": %s", host, gai_strerror(gai));
		goto done;
	}
	char entry[1024];
	int len = snprintf(entry, sizeof(entry), "%s:%s:", host, port);
	for (struct addrinfo *a = list; a && len > 0 && (size_t)len < sizeof(entry) - INET6_ADDRSTRLEN - 3; a = a->ai_next) {
		char text[INET6_ADDRSTRLEN];
		const void *ip = a->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
							 : (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
		if (inet_ntop(a->ai_family, ip, text, sizeof(text)) && !strstr(entry + strlen(host), text))
			len += snprintf(entry + len, sizeof(entry) - (size_t)len, a->ai_family == AF_INET6 ? "%s[%s]" : "%s%s",
					entry[len - 1] == ':' ? "" : ",", text);
	}
	freeaddrinfo(list);
	if ((c->resolved = curl_slist_append(NULL, entry)))
		rc = 0;
	else
		snprintf(err, errlen, "out of memory");
	log_info("as", "AS host %s pinned to %s", host, strrchr(entry, ':') + 1);
done:
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

struct as_client *as_client_new(struct loop *loop, const struct as_client_config *cfg, char *err,
				size_t errlen)
{
	const char *addr = cfg->as_addr;
	if (!addr || (strncmp(addr, "http://", 7) && strncmp(addr, "https://", 8))) {
		snprintf(err, errlen, "AS address \"%s\" must start with http:// or https://", addr ? addr : "");
		return NULL;
	}
	static bool curl_ready;
	if (!curl_ready && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "libcurl initialisation failed");
		return NULL;
	}
	curl_ready = true;
	struct as_client *c = calloc(1, sizeof(*c));
	if (!c || !(c->multi = curl_multi_init()) || !(c->base = strdup(addr)) ||
	    (cfg->ca_file && !(c->ca_file = strdup(cfg->ca_file))))
		goto oom;
	size_t n = strlen(c->base);
	while (n > 0 && c->base[n - 1] == '/')
		c->base[--n] = 0;
	const char *fixed[] = { "Content-Type: application/json", "Expect:" };
	for (size_t i = 0; i < 2 + cfg->n_headers; i++) {
		struct curl_slist *grown = curl_slist_append(c->headers, i < 2 ? fixed[i] : cfg->headers[i - 2]);
		if (!grown)
			goto oom;
		c->headers = grown;
	}
	c->loop = loop;
	c->timeout_ns = cfg->timeout_ns ? cfg->timeout_ns : 30 * NSEC_PER_SEC;
	c->so_mark = cfg->so_mark;
	loop_timer_init(&c->timer, on_timer, c);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket_change);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	if (pin_host(c, err, errlen) != 0) {
		as_client_free(c);
		return NULL;
	}
	return c;
oom:
	snprintf(err, errlen, "out of memory");
	as_client_free(c);
	return NULL;
}

static void call_free(struct as_call *call)
{
	struct as_client *c = call->c;
	if (call->prev)
		call->prev->next = call->next;
	else if (c->calls == call)
		c->calls = call->next;
	if (call->next)
		call->next->prev = call->prev;
	if (call->easy) {
		curl_multi_remove_handle(c->multi, call->easy);
		curl_easy_cleanup(call->easy);
	}
	free(call->url);
	free(call->body);
	free(call->legacy_body);
	free(call->reply);
	free(call);
}

static void destroy(struct as_client *c)
{
	if (c->multi)
		curl_multi_cleanup(c->multi);
	if (c->loop)
		loop_timer_cancel(c->loop, &c->timer);
	curl_slist_free_all(c->headers);
	curl_slist_free_all(c->resolved);
	free(c->base);
	free(c->ca_file);
	free(c);
}

void as_client_free(struct as_client *c)
{
	if (!c)
		return;
	while (c->calls)
		call_free(c->calls);
	if (c->dispatching)
		c->doomed = true;
	else
		destroy(c);
}

/* ---- calls ---- */

static size_t on_data(char *data, size_t size, size_t nmemb, void *userp)
{
	struct as_call *call = userp;
	size_t len = size * nmemb;
	if (call->reply_len + len > AS_MAX_REPLY) {
		call->oversized = true;
		return 0;
	}
	char *grown = realloc(call->reply, call->reply_len + len + 1);
	if (!grown)
		return 0;
	memcpy(grown + call->reply_len, data, len);
	call->reply = grown;
	call->reply_len += len;
	call->reply[call->reply_len] = 0;
	return len;
}

/* (Re)start the transfer with body (NULL = GET) under what is left of the deadline. */
/* The daemon's own connections carry the bypass mark, so steering never captures them. */
static int mark_socket(void *ctx, curl_socket_t fd, curlsocktype purpose)
{
	const struct as_client *c = ctx;
	if (purpose == CURLSOCKTYPE_IPCXN &&
	    setsockopt(fd, SOL_SOCKET, SO_MARK, &c->so_mark, sizeof(c->so_mark)) < 0)
		return CURL_SOCKOPT_ERROR;
	return CURL_SOCKOPT_OK;
}

static int start(struct as_call *call, const char *body)
{
	struct as_client *c = call->c;
	uint64_t now = loop_now_ns();
	uint64_t left_ms = call->deadline_ns > now ? (call->deadline_ns - now) / NSEC_PER_MSEC : 0;
	free(call->reply);
	call->reply = NULL;
	call->reply_len = 0;
	call->errbuf[0] = 0;
	CURL *e = call->easy;
	curl_easy_setopt(e, CURLOPT_URL, call->url);
	if (c->so_mark) {
		curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, mark_socket);
		curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, c);
	}
	curl_easy_setopt(e, CURLOPT_RESOLVE, c->resolved);
	curl_easy_setopt(e, CURLOPT_PRIVATE, call);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "tng-wg");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(left_ms ? left_ms : 1));
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(CONNECT_TIMEOUT_NS / NSEC_PER_MSEC));
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	return curl_multi_add_handle(c->multi, e) == CURLM_OK ? 0 : -1;
}

static struct as_call *call_new(struct as_client *c, const char *path, char *body, char *legacy_body,
				as_reply_fn done, void *ctx)
{
	struct as_call *call = calloc(1, sizeof(*call));
	if (!call) {
		free(body);
		free(legacy_body);
		return NULL;
	}
	call->c = c;
	call->body = body;
	call->legacy_body = legacy_body;
	call->done = done;
	call->ctx = ctx;
	call->deadline_ns = loop_now_ns() + c->timeout_ns;
	call->next = c->calls;
	if (c->calls)
		c->calls->prev = call;
	c->calls = call;
	size_t n = strlen(c->base) + strlen(path) + 1;
	if (!(call->url = malloc(n)) || !(call->easy = curl_easy_init())) {
		call_free(call);
		return NULL;
	}
	snprintf(call->url, n, "%s%s", c->base, path);
	if (start(call, body) != 0) {
		call_free(call);
		return NULL;
	}
	return call;
}

static void deliver(struct as_call *call, CURLcode rc)
{
	long status = 0;
	curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(call->c->multi, call->easy);
	if (rc == CURLE_OK && status == 400 && call->legacy_body && call->reply &&
	    strstr(call->reply, LEGACY_SCHEMA_HINT)) {
		log_info("as", "the AS predates Trustee v0.14 (\"%s\"); retrying with the flat request schema",
			 LEGACY_SCHEMA_HINT);
		char *legacy = call->legacy_body;
		call->legacy_body = NULL;
		free(call->body);
		call->body = legacy;
		if (start(call, legacy) == 0)
			return;
	}
	char message[CURL_ERROR_SIZE + 160];
	struct as_reply r = { .http_status = status, .body = call->reply ? call->reply : "",
			      .body_len = call->reply_len, .message = message };
	if (call->oversized) {
		r.outcome = AS_BAD_REPLY;
		snprintf(message, sizeof(message), "AS reply from %s exceeds %u bytes", call->url, AS_MAX_REPLY);
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		r.outcome = AS_TIMEOUT;
		snprintf(message, sizeof(message), "AS %s did not answer in time: %s", call->url, call->errbuf);
	} else if (rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING ||
		   rc == CURLE_WEIRD_SERVER_REPLY) {
		r.outcome = AS_BAD_REPLY;
		snprintf(message, sizeof(message), "AS %s sent a broken reply: %s", call->url,
			 call->errbuf[0] ? call->errbuf : curl_easy_strerror(rc));
	} else if (rc != CURLE_OK) {
		r.outcome = AS_UNREACHABLE;
		snprintf(message, sizeof(message), "AS %s unreachable: %s", call->url,
			 call->errbuf[0] ? call->errbuf : curl_easy_strerror(rc));
	} else if (status != 200) {
		r.outcome = AS_HTTP_ERROR;
		snprintf(message, sizeof(message), "AS %s answered HTTP %ld: %.300s", call->url, status, r.body);
	} else {
		r.outcome = AS_OK;
		snprintf(message, sizeof(message), "HTTP 200");
	}
	as_reply_fn done = call->done;
	void *ctx = call->ctx;
	/* Unlink first so the callback may cancel anything, even free the client. */
	curl_easy_cleanup(call->easy);
	call->easy = NULL;
	char *reply = call->reply;
	call->reply = NULL;
	call_free(call);
	done(ctx, &r);
	free(reply);
}

static void collect_done(struct as_client *c)
{
	CURLMsg *msg;
	int left;
	c->dispatching++;
	while (!c->doomed && (msg = curl_multi_info_read(c->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct as_call *call = NULL;
		CURLcode rc = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &call);
		deliver(call, rc);
	}
	if (--c->dispatching == 0 && c->doomed)
		destroy(c);
}

void as_call_cancel(struct as_call *call)
{
	if (call)
		call_free(call);
}

struct as_call *as_client_get(struct as_client *c, const char *path, as_reply_fn done, void *ctx)
{
	return call_new(c, path, NULL, NULL, done, ctx);
}

/* ---- request bodies ---- */

/* One verification request: {tee, evidence, runtime_data, init_data, runtime_data_hash_algorithm}. */
static cJSON *verification_request(const char *tee, const uint8_t *evidence, size_t len,
				   const cJSON *runtime_data)
{
	cJSON *r = cJSON_CreateObject();
	char *b64 = b64url_encode(evidence, len);
	cJSON *rd = runtime_data ? cJSON_CreateObject() : cJSON_CreateNull();
	if (runtime_data)
		cJSON_AddItemToObject(rd, "structured", cJSON_Duplicate(runtime_data, true));
	cJSON_AddStringToObject(r, "tee", tee);
	cJSON_AddStringToObject(r, "evidence", b64 ? b64 : "");
	cJSON_AddItemToObject(r, "runtime_data", rd);
	cJSON_AddNullToObject(r, "init_data");
	cJSON_AddStringToObject(r, "runtime_data_hash_algorithm", "sha384");
	free(b64);
	return r;
}

/* Extra devices' evidence ({"<tee>": evidence, …}) as further requests without runtime data. */
static void add_additional(cJSON *requests, const uint8_t *additional, size_t len)
{
	if (!len)
		return;
	cJSON *doc = cJSON_ParseWithLength((const char *)additional, len), *dev;
	if (!cJSON_IsObject(doc)) {
		log_warn("as", "additional evidence is not a JSON object; sent without it");
		cJSON_Delete(doc);
		return;
	}
	cJSON_ArrayForEach(dev, doc) {
		char *text = cJSON_IsString(dev) ? strdup(dev->valuestring) : cJSON_PrintUnformatted(dev);
		if (text)
			cJSON_AddItemToArray(requests, verification_request(dev->string, (uint8_t *)text,
									    strlen(text), NULL));
		free(text);
	}
	cJSON_Delete(doc);
}

static cJSON *policy_array(const char *const *ids, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(ids[i]));
	return a;
}

struct as_call *as_client_attest(struct as_client *c, const struct as_attestation *a,
				 as_reply_fn done, void *ctx)
{
	cJSON *primary = verification_request(a->tee, a->evidence, a->evidence_len, a->runtime_data);
	cJSON *current = cJSON_CreateObject(), *requests = cJSON_CreateArray();
	cJSON_AddItemToArray(requests, cJSON_Duplicate(primary, true));
	add_additional(requests, a->additional_evidence, a->additional_len);
	cJSON_AddItemToObject(current, "verification_requests", requests);
	cJSON_AddItemToObject(current, "policy_ids", policy_array(a->policy_ids, a->n_policy_ids));
	/* Trustee v0.9-v0.13: the primary request's fields at top level, one device only. */
	cJSON_AddStringToObject(primary, "init_data_hash_algorithm", "sha384");
	cJSON_AddItemToObject(primary, "policy_ids", policy_array(a->policy_ids, a->n_policy_ids));
	char *body = cJSON_PrintUnformatted(current), *legacy = cJSON_PrintUnformatted(primary);
	cJSON_Delete(current);
	cJSON_Delete(primary);
	if (!body || !legacy) {
		free(body);
		free(legacy);
		return NULL;
	}
	return call_new(c, "/attestation", body, legacy, done, ctx);
}
