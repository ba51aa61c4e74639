#include "node/peers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "handshake/transport.h"

#define MAX_NODE_PEERS 4096
#define PEER_BUCKETS 1024
#define MAX_HELD_PACKETS 64
#define MAX_HELD_BYTES (256 * 1024)
/* All peers' held packets together: local senders to many addresses cannot exhaust memory. */
#define MAX_HELD_BYTES_TOTAL (4 * 1024 * 1024)
#define RETRY_BACKOFF_MAX_S 16
/* Forgotten after this long unused: failed and idle peers that no one configured. */
#define IDLE_AGE_S 30
#define AGE_SWEEP_S 10
/* A failed incoming attempt from an up peer's address asks for a re-attestation at most this
 * often: strangers must not be able to keep this node's evidence source and AS busy. */
#define PROMPT_MIN_INTERVAL_S 30
/* A token accepted when it had (by this node's clock) already expired still gets this long for
 * its renewal before its tunnel goes. */
#define LAPSE_GRACE_S 10
#define KNOWN_REWRITE_DELAY_NS NSEC_PER_SEC
#define LAST_ERROR_MAX 384
#define TRIM_DELAY_NS NSEC_PER_SEC

enum node_peer_state {
	NODE_PEER_IDLE,      /* known, no tunnel, nothing in progress */
	NODE_PEER_ATTESTING, /* first attested handshake in progress */
	NODE_PEER_UP,        /* installed in the WireGuard device */
	NODE_PEER_FAILED,    /* the last attempt failed; retried after a backoff */
};

static const char *state_name(enum node_peer_state s)
{
	static const char *names[] = { "idle", "attesting", "up", "failed" };
	return names[s];
}

struct held_packet {
	struct held_packet *next;
	size_t len;
	uint8_t data[];
};

/* What a verifier said about the peer of one attested handshake. */
struct appraisal {
	bool requested; /* the peer's evidence went to the verifiers */
	bool accepted;
	char tee[32];
	char policy_ids[128];
	int64_t token_exp;
	char rejection[256]; /* this node's reason, when it rejected */
};

struct node_peer {
	struct peers *owner;
	struct node_peer *next, *bucket_next;
	uint32_t addr; /* IPv4, network order */
	enum node_peer_state state;
	bool is_static;
	struct hs_conn *outgoing; /* our attested handshake in progress, if any */
	struct peer *wg;          /* installed WireGuard peer */
	/* held packets, released on install */
	struct held_packet *held_head, *held_tail;
	size_t held_count, held_bytes;
	uint64_t held_dropped;
	struct loop_timer hold_timer;
	/* retries */
	unsigned failures;
	uint64_t retry_at_ns;
	uint64_t last_used_ns;   /* for ageing out */
	uint64_t last_prompt_ns; /* a re-attestation asked for by a failed incoming attempt */
	struct loop_timer retry_timer;
	struct loop_timer reattest_timer;
	struct loop_timer lapse_timer; /* the token expires without renewal: the tunnel goes */
	struct loop_timer kick_timer;  /* starts the WireGuard handshake if the peer's did not come */
	bool kick_always;
	/* what the operator sees */
	char tee[32];
	char policy_ids[128];
	int64_t token_exp;
	time_t attested_at;
	unsigned attestations;
	char *last_error; /* NULL when there is none: most peers never have one */
	time_t last_error_at;
	bool peer_attested;
};

/* Per attested handshake: the conn's owner data, whichever side started it. */
struct conn_ctx {
	struct peers *owner;
	struct conn_ctx *next, *prev; /* the owner's list, to cancel everything at shutdown */
	/* our evidence and the peer's appraisal run at the same time */
	struct attestation_op *evidence_op, *verify_op;
	uint32_t addr;
	struct appraisal appraisal;
};

struct peers {
	struct loop *loop;
	struct device *dev;
	struct attestation *att;
	const struct node_config *cfg;
	struct hs_transport *hs;
	struct node_peer *list;
	struct node_peer *buckets[PEER_BUCKETS];
	size_t count;
	size_t held_bytes; /* of every peer */
	struct conn_ctx *conns;
	struct loop_timer age_timer;
	struct peers_counters counters;
	char known_path[256]; /* addresses that had a tunnel, one per line */
	struct loop_timer known_timer; /* the list's rewrite after a tunnel ended */
	struct loop_timer trim_timer;  /* free heap back to the system after handshakes */
	bool trim_again;               /* a handshake ended since the timer was armed */
	bool known_rewritten;          /* by this run */
};

static void addr_text(uint32_t addr, char *buf, size_t len)
{
	struct in_addr a = { .s_addr = addr };
	inet_ntop(AF_INET, &a, buf, (socklen_t)len);
}

static uint32_t sockaddr_ipv4(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			uint32_t v4;
			memcpy(&v4, &a6->s6_addr[12], 4);
			return v4;
		}
	}
	return 0;
}

static void format_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *error_of(const struct node_peer *np)
{
	return np->last_error ? np->last_error : "";
}

static void clear_error(struct node_peer *np)
{
	free(np->last_error);
	np->last_error = NULL;
}

/* ---- held packets ---- */

static void held_free_all(struct node_peer *np, bool count_dropped)
{
	while (np->held_head) {
		struct held_packet *h = np->held_head;
		np->held_head = h->next;
		free(h);
		np->held_dropped += count_dropped;
	}
	np->owner->held_bytes -= np->held_bytes;
	np->held_tail = NULL;
	np->held_count = np->held_bytes = 0;
	loop_timer_cancel(np->owner->loop, &np->hold_timer);
}

static void held_drop_all(struct node_peer *np)
{
	held_free_all(np, true);
}

static void held_release(struct node_peer *np)
{
	for (struct held_packet *h = np->held_head; h; h = h->next)
		device_send_packet(np->owner->dev, h->data, h->len);
	held_free_all(np, false);
}

static void on_hold_expired(void *ctx)
{
	held_drop_all(ctx);
}

static void held_push(struct node_peer *np, const uint8_t *pkt, size_t len)
{
	struct peers *p = np->owner;
	if (np->held_count >= MAX_HELD_PACKETS || np->held_bytes + len > MAX_HELD_BYTES ||
	    p->held_bytes + len > MAX_HELD_BYTES_TOTAL) {
		np->held_dropped++;
		return;
	}
	struct held_packet *h = malloc(sizeof(*h) + len);
	if (!h) {
		np->held_dropped++;
		return;
	}
	h->next = NULL;
	h->len = len;
	memcpy(h->data, pkt, len);
	if (np->held_tail)
		np->held_tail->next = h;
	else
		np->held_head = h;
	np->held_tail = h;
	np->held_count++;
	np->held_bytes += len;
	p->held_bytes += len;
	/* Held packets never outlive one handshake attempt: fail closed, and stale data is useless. */
	if (!loop_timer_armed(&np->hold_timer))
		loop_timer_arm_in(p->loop, &np->hold_timer,
				  ((uint64_t)p->cfg->overlay.handshake_timeout_s + 1) * NSEC_PER_SEC);
}

/* ---- the peer table ---- */

static void on_retry_timer(void *ctx);
static void on_reattest_timer(void *ctx);
static void on_lapse_timer(void *ctx);
static void on_kick_timer(void *ctx);
static void fail_peer(struct node_peer *np, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static struct node_peer **bucket_of(struct peers *p, uint32_t addr)
{
	uint32_t h = addr * 2654435761u; /* the address's bytes spread over the table */
	return &p->buckets[h >> 22];
}

static struct node_peer *peer_find(struct peers *p, uint32_t addr)
{
	for (struct node_peer *np = *bucket_of(p, addr); np; np = np->bucket_next)
		if (np->addr == addr)
			return np;
	return NULL;
}

/* A peer nothing depends on: no tunnel, nothing in progress or held, not configured. */
static bool peer_forgettable(const struct node_peer *np)
{
	return (np->state == NODE_PEER_IDLE || np->state == NODE_PEER_FAILED) && !np->is_static &&
	       !np->outgoing && !np->wg && !np->held_count;
}

static void peer_forget(struct node_peer *np)
{
	struct peers *p = np->owner;
	for (struct node_peer **b = bucket_of(p, np->addr); *b; b = &(*b)->bucket_next)
		if (*b == np) {
			*b = np->bucket_next;
			break;
		}
	for (struct node_peer **l = &p->list; *l; l = &(*l)->next)
		if (*l == np) {
			*l = np->next;
			break;
		}
	p->count--;
	held_drop_all(np);
	loop_timer_cancel(p->loop, &np->retry_timer);
	loop_timer_cancel(p->loop, &np->reattest_timer);
	loop_timer_cancel(p->loop, &np->lapse_timer);
	loop_timer_cancel(p->loop, &np->kick_timer);
	clear_error(np);
	free(np);
}

/* The least recently used forgettable peer, to make room for a new one. */
static struct node_peer *peer_to_evict(struct peers *p)
{
	struct node_peer *oldest = NULL;
	for (struct node_peer *np = p->list; np; np = np->next)
		if (peer_forgettable(np) && (!oldest || np->last_used_ns < oldest->last_used_ns))
			oldest = np;
	return oldest;
}

/* NULL when the table is full of peers that matter (up, attesting or configured). */
static struct node_peer *peer_add(struct peers *p, uint32_t addr)
{
	if (p->count >= MAX_NODE_PEERS) {
		struct node_peer *victim = peer_to_evict(p);
		if (!victim)
			return NULL;
		peer_forget(victim);
	}
	struct node_peer *np = calloc(1, sizeof(*np));
	if (!np)
		return NULL;
	np->owner = p;
	np->addr = addr;
	np->last_used_ns = loop_now_ns();
	loop_timer_init(&np->hold_timer, on_hold_expired, np);
	loop_timer_init(&np->retry_timer, on_retry_timer, np);
	loop_timer_init(&np->reattest_timer, on_reattest_timer, np);
	loop_timer_init(&np->lapse_timer, on_lapse_timer, np);
	loop_timer_init(&np->kick_timer, on_kick_timer, np);
	np->next = p->list;
	p->list = np;
	struct node_peer **b = bucket_of(p, addr);
	np->bucket_next = *b;
	*b = np;
	p->count++;
	return np;
}

static struct node_peer *peer_find_or_add(struct peers *p, uint32_t addr)
{
	struct node_peer *np = peer_find(p, addr);
	return np ? np : peer_add(p, addr);
}

static void on_age_timer(void *ctx)
{
	struct peers *p = ctx;
	uint64_t now = loop_now_ns();
	for (struct node_peer *np = p->list, *next; np; np = next) {
		next = np->next;
		if (peer_forgettable(np) && now - np->last_used_ns >= (uint64_t)IDLE_AGE_S * NSEC_PER_SEC)
			peer_forget(np);
	}
	loop_timer_arm_in(p->loop, &p->age_timer, (uint64_t)AGE_SWEEP_S * NSEC_PER_SEC);
}

static struct node_peer *peer_by_wg(struct peers *p, const struct peer *wg)
{
	for (struct node_peer *np = p->list; np; np = np->next)
		if (np->wg == wg)
			return np;
	return NULL;
}

/* One log line for an event of np's: its address, its state now and the reason token. */
static void peer_log(struct node_peer *np, enum log_level level, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void peer_log(struct node_peer *np, enum log_level level, const char *reason, const char *fmt, ...)
{
	char a[INET_ADDRSTRLEN], msg[640];
	addr_text(np->addr, a, sizeof(a));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct log_fields f = { .peer = a, .state = state_name(np->state), .reason = reason };
	log_event(level, "peer", &f, "%s", msg);
}

static void set_error(struct node_peer *np, const char *fmt, va_list ap)
{
	char text[LAST_ERROR_MAX];
	vsnprintf(text, sizeof(text), fmt, ap);
	/* An AS's reply text may span lines; keep the error one line, as a peer's reported detail is. */
	for (char *c = text; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	clear_error(np);
	np->last_error = strdup(text);
	np->last_error_at = time(NULL);
}

/* The error shown for np (its state unchanged, or already changed by the caller), logged. */
static void record_error(struct node_peer *np, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void record_error(struct node_peer *np, const char *reason, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_error(np, fmt, ap);
	va_end(ap);
	peer_log(np, LOG_WARN, reason, "%s", error_of(np));
}

static void uninstall(struct node_peer *np)
{
	struct peer *wg = np->wg;
	np->wg = NULL; /* first: the device reports the removal back */
	if (wg)
		device_remove_peer(np->owner->dev, wg);
	loop_timer_cancel(np->owner->loop, &np->reattest_timer);
	loop_timer_cancel(np->owner->loop, &np->lapse_timer);
	loop_timer_cancel(np->owner->loop, &np->kick_timer);
}

static uint64_t backoff_ns(unsigned failures)
{
	unsigned s = failures >= 5 ? RETRY_BACKOFF_MAX_S : 1u << (failures ? failures - 1 : 0);
	return (uint64_t)(s > RETRY_BACKOFF_MAX_S ? RETRY_BACKOFF_MAX_S : s) * NSEC_PER_SEC;
}

/* The owner data of conn c, made on first use (an incoming conn is first seen in a callback). */
static struct conn_ctx *conn_ctx_of(struct peers *p, struct hs_conn *c)
{
	struct conn_ctx *cc = hs_conn_owner_data(c);
	if (cc)
		return cc;
	cc = calloc(1, sizeof(*cc));
	if (!cc)
		return NULL;
	cc->owner = p;
	cc->addr = sockaddr_ipv4(hs_conn_peer(c));
	cc->next = p->conns;
	if (p->conns)
		p->conns->prev = cc;
	p->conns = cc;
	hs_conn_set_owner_data(c, cc);
	return cc;
}

static void start_handshake(struct node_peer *np)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = np->addr };
	struct hs_conn *c = hs_transport_connect(np->owner->hs, (struct sockaddr *)&sin);
	struct conn_ctx *cc = c ? conn_ctx_of(np->owner, c) : NULL;
	if (!cc) {
		/* Nothing is held meanwhile: fail closed, and let the next packet try after a backoff. */
		bool busy = !c && errno == EBUSY;
		const char *why = busy ? "too many in progress" : "out of resources";
		if (np->state != NODE_PEER_UP)
			fail_peer(np, busy ? "busy" : "out_of_resources", "cannot start an attested handshake: %s", why);
		else
			record_error(np, busy ? "busy" : "out_of_resources", "cannot start an attested handshake: %s", why);
		return;
	}
	np->outgoing = c;
	np->last_used_ns = loop_now_ns();
	if (np->state != NODE_PEER_UP)
		np->state = NODE_PEER_ATTESTING;
	bool again = np->state == NODE_PEER_UP;
	peer_log(np, LOG_INFO, again ? "reattesting" : "attesting", "attested handshake started%s",
		 again ? " (re-attestation)" : "");
}

static void on_retry_timer(void *ctx)
{
	struct node_peer *np = ctx;
	if (!np->outgoing && np->state != NODE_PEER_UP)
		start_handshake(np);
}

static void on_reattest_timer(void *ctx)
{
	struct node_peer *np = ctx;
	if (np->state == NODE_PEER_UP && !np->outgoing)
		start_handshake(np);
}

static void on_kick_timer(void *ctx)
{
	struct node_peer *np = ctx;
	struct peer_stats st;
	if (!np->wg)
		return;
	peer_get_stats(np->wg, &st);
	if (np->kick_always || st.last_handshake_sec == 0)
		peer_initiate_handshake(np->wg);
}

/* The next re-attestation: after reattest_interval, or while the peer's token has a fifth of its
 * life and two handshake deadlines left (time for a retry), whichever comes first; less up to a
 * tenth of jitter so that two peers do not re-attest each other at the same moment. */
static void schedule_reattest(struct node_peer *np)
{
	const struct overlay_config *o = &np->owner->cfg->overlay;
	uint64_t delay = (uint64_t)o->reattest_interval_s * NSEC_PER_SEC;
	int64_t left = np->token_exp - (int64_t)time(NULL);
	if (np->token_exp) {
		int64_t renew = left / 5 * 4;
		if (renew > left - 2 * (int64_t)o->handshake_timeout_s)
			renew = left - 2 * (int64_t)o->handshake_timeout_s;
		if (renew < 0)
			renew = 0;
		if ((uint64_t)renew * NSEC_PER_SEC < delay)
			delay = (uint64_t)renew * NSEC_PER_SEC;
	}
	uint64_t tenth_ms = delay / 10 / NSEC_PER_MSEC;
	if (tenth_ms)
		delay -= randombytes_uniform((uint32_t)(tenth_ms < UINT32_MAX ? tenth_ms + 1 : UINT32_MAX)) * NSEC_PER_MSEC;
	loop_timer_arm_in(np->owner->loop, &np->reattest_timer, delay > NSEC_PER_SEC ? delay : NSEC_PER_SEC);
}

/* The tunnel lives as long as the peer's token (the earliest of its verifiers'). */
static void schedule_lapse(struct node_peer *np)
{
	loop_timer_cancel(np->owner->loop, &np->lapse_timer);
	if (!np->token_exp)
		return;
	int64_t left = np->token_exp - (int64_t)time(NULL);
	if (left < LAPSE_GRACE_S)
		left = LAPSE_GRACE_S;
	loop_timer_arm_in(np->owner->loop, &np->lapse_timer, (uint64_t)left * NSEC_PER_SEC);
}

/*
 * ---- peers known across restarts ----
 * The first new tunnel rewrites the list a previous run left; later ones append their address
 * at once (a node killed a moment later still knows it), which costs the same however many peers
 * there are. A tunnel's end is written by rewriting the whole list (which also drops repeated
 * addresses), at most once per KNOWN_REWRITE_DELAY, and when the node stops.
 */

static void known_save(struct peers *p)
{
	loop_timer_cancel(p->loop, &p->known_timer);
	p->known_rewritten = true;
	char tmp[sizeof(p->known_path) + 4];
	snprintf(tmp, sizeof(tmp), "%s.new", p->known_path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	for (struct node_peer *np = p->list; np; np = np->next) {
		char a[INET_ADDRSTRLEN];
		addr_text(np->addr, a, sizeof(a));
		if (np->state == NODE_PEER_UP)
			fprintf(f, "%s\n", a);
	}
	if (fclose(f) == 0)
		rename(tmp, p->known_path);
}

static void on_known_timer(void *ctx)
{
	known_save(ctx);
}

static void known_removed(struct peers *p)
{
	if (!loop_timer_armed(&p->known_timer))
		loop_timer_arm_in(p->loop, &p->known_timer, KNOWN_REWRITE_DELAY_NS);
}

static void known_add(struct node_peer *np)
{
	char a[INET_ADDRSTRLEN];
	if (!np->owner->known_rewritten) {
		known_save(np->owner);
		return;
	}
	FILE *f = fopen(np->owner->known_path, "a");
	if (!f)
		return;
	addr_text(np->addr, a, sizeof(a));
	fprintf(f, "%s\n", a);
	fclose(f);
}

static void known_connect(struct peers *p)
{
	FILE *f = fopen(p->known_path, "r");
	char line[64];
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		struct in_addr a;
		struct node_peer *np = inet_pton(AF_INET, line, &a) == 1 ? peer_find_or_add(p, a.s_addr) : NULL;
		if (np && !np->outgoing && np->state != NODE_PEER_UP)
			start_handshake(np);
	}
	if (f)
		fclose(f);
}

/* ---- outcomes ---- */

/* The peer has no tunnel now: failed, with the next attempt after a backoff (at once on demand
 * for a peer no one configured, once the backoff has passed). */
static void mark_failed(struct node_peer *np)
{
	bool was_up = np->state == NODE_PEER_UP;
	uninstall(np);
	held_drop_all(np);
	np->state = NODE_PEER_FAILED;
	np->last_used_ns = loop_now_ns();
	if (was_up)
		known_removed(np->owner);
	np->failures++;
	np->retry_at_ns = loop_now_ns() + backoff_ns(np->failures);
	if (np->is_static)
		loop_timer_arm_at(np->owner->loop, &np->retry_timer, np->retry_at_ns);
}

/* mark_failed with the reason shown and logged, saying when a tunnel went with it. */
static void fail_peer(struct node_peer *np, const char *reason, const char *fmt, ...)
{
	bool was_up = np->state == NODE_PEER_UP;
	va_list ap;
	va_start(ap, fmt);
	set_error(np, fmt, ap);
	va_end(ap);
	mark_failed(np);
	peer_log(np, LOG_WARN, reason, "%s%s", error_of(np), was_up ? "; tunnel removed, its flows cut" : "");
}

static void on_lapse_timer(void *ctx)
{
	struct node_peer *np = ctx;
	char exp[32];
	format_time(np->token_exp, exp, sizeof(exp));
	np->owner->counters.tokens_lapsed++;
	fail_peer(np, "token_expired", "its attestation token expired at %s without a renewal", exp);
}

/*
 * Whether the WireGuard key K may be installed for np: a key belongs to one address only, so a
 * peer cannot take over another's tunnel by claiming its key (which that peer shows in its
 * evidence), nor this node's own. NULL when it may, else why not.
 */
static const char *key_conflict(struct node_peer *np, const uint8_t key[WG_KEY_LEN], char *buf, size_t len)
{
	struct peers *p = np->owner;
	uint8_t own[WG_KEY_LEN];
	if (device_get_public_key(p->dev, own) && !sodium_memcmp(own, key, WG_KEY_LEN))
		return "the peer presented this node's own WireGuard key";
	struct peer *holder = device_find_peer(p->dev, key);
	if (!holder || holder == np->wg)
		return NULL;
	struct node_peer *other = peer_by_wg(p, holder);
	char a[INET_ADDRSTRLEN] = "";
	if (other)
		addr_text(other->addr, a, sizeof(a));
	snprintf(buf, len, "refused: its WireGuard key is already bound to %s",
		 other ? a : "a peer set over the WireGuard UAPI");
	return buf;
}

/* False when the peer was refused (the reason is recorded). */
static bool install(struct node_peer *np, const struct hs_result *r, const struct appraisal *ap)
{
	struct peers *p = np->owner;
	char why[128];
	const char *conflict = key_conflict(np, r->peer_wg_public_key, why, sizeof(why));
	if (conflict) {
		/* An up tunnel stays as it is: the claim came from its address, but proves nothing. */
		p->counters.key_conflicts++;
		if (np->state != NODE_PEER_UP)
			fail_peer(np, "key_conflict", "%s", conflict);
		else
			record_error(np, "key_conflict", "%s", conflict);
		return false;
	}
	uint8_t current[WG_KEY_LEN];
	if (np->wg) {
		peer_public_key(np->wg, current);
		if (sodium_memcmp(current, r->peer_wg_public_key, WG_KEY_LEN) != 0)
			uninstall(np); /* the node restarted with a new tunnel key */
	}
	bool fresh = !np->wg;
	if (fresh && !(np->wg = device_add_peer(p->dev, r->peer_wg_public_key))) {
		fail_peer(np, "out_of_resources", "cannot add the WireGuard peer: out of memory");
		return false;
	}
	peer_set_preshared_key(np->wg, r->psk);
	union endpoint_addr ep = { .in4 = { .sin_family = AF_INET, .sin_port = htons(r->peer_wg_port),
					    .sin_addr.s_addr = np->addr } };
	peer_set_endpoint(np->wg, &ep);
	if (fresh)
		peer_add_allowed_ip(np->wg, AF_INET, &np->addr, 32);
	/*
	 * One side starts the WireGuard handshake, since two crossing initiations cost a retransmit:
	 * the attested initiator at once on a new tunnel; the other only if none has arrived a
	 * second later (its peer's initiation was dropped because it came before this install).
	 * After a re-attestation the initiator rekeys under the new PSK a second later, once the
	 * peer has surely installed it too.
	 */
	bool again = np->state == NODE_PEER_UP && !fresh;
	np->kick_always = again;
	if (r->we_initiated && !again)
		peer_initiate_handshake(np->wg);
	else if (r->we_initiated || !again)
		loop_timer_arm_in(p->loop, &np->kick_timer, NSEC_PER_SEC);
	np->state = NODE_PEER_UP;
	np->failures = 0;
	np->attestations++;
	np->attested_at = time(NULL);
	np->last_used_ns = loop_now_ns();
	np->peer_attested = r->peer_attested;
	clear_error(np);
	if (ap->accepted) {
		snprintf(np->tee, sizeof(np->tee), "%s", ap->tee);
		snprintf(np->policy_ids, sizeof(np->policy_ids), "%s", ap->policy_ids);
	}
	np->token_exp = ap->accepted ? ap->token_exp : 0;
	schedule_reattest(np);
	schedule_lapse(np);
	held_release(np);
	if (fresh)
		known_add(np);
	return true;
}

/* Reasons that are a verdict on trust; the others say only that no verdict could be had. */
static bool is_rejection(enum hs_reason reason)
{
	return reason == HS_VERIFICATION_FAILED || reason == HS_ATTESTATION_REQUIRED ||
	       reason == HS_VERSION_MISMATCH;
}

/* Our own attempt failed. A rejection removes the tunnel at once; a re-attestation that merely
 * could not complete (AS or peer unreachable, busy, timed out) is retried while the peer's
 * token lasts. */
static void outgoing_failed(struct node_peer *np, enum hs_reason reason, bool by_peer, const char *detail,
			    const char *own_verdict)
{
	bool was_up = np->state == NODE_PEER_UP;
	bool kept = was_up && !is_rejection(reason);
	/* Both sides may reject each other; show this node's own verdict even when the peer's came first. */
	bool own_verdict_too = by_peer && own_verdict && *own_verdict;
	char lapse[64] = "";
	if (kept && np->token_exp) {
		char exp[32];
		format_time(np->token_exp, exp, sizeof(exp));
		snprintf(lapse, sizeof(lapse), " until its token expires at %s", exp);
	}
	char text[512];
	snprintf(text, sizeof(text), "%s%s%s%s%s%s%s%s%s",
		 !was_up ? "" : kept ? "re-attestation did not complete (tunnel kept" : "re-attestation failed: ",
		 kept ? lapse : "", kept ? "): " : "", hs_reason_name(reason), by_peer ? " (reported by the peer)" : "",
		 detail && *detail ? ": " : "", detail ? detail : "", own_verdict_too ? "; this node's verdict: " : "",
		 own_verdict_too ? own_verdict : "");
	if (!kept) {
		fail_peer(np, hs_reason_name(reason), "%s", text);
		return;
	}
	record_error(np, hs_reason_name(reason), "%s", text);
	np->failures++;
	loop_timer_arm_in(np->owner->loop, &np->reattest_timer, backoff_ns(np->failures));
}

/*
 * An attempt the peer started failed. Anyone who can reach this node can start one from the
 * peer's address and make it fail, so it changes no tunnel and no backoff: it is shown, and for
 * an up peer it asks (now and then) for a re-attestation of our own, whose outcome decides.
 */
static void incoming_failed(struct node_peer *np, enum hs_reason reason, bool by_peer, const char *detail,
			    const char *own_verdict)
{
	bool own_verdict_too = by_peer && own_verdict && *own_verdict;
	char text[384];
	snprintf(text, sizeof(text), "%s%s%s%s%s", hs_reason_name(reason), by_peer ? " (reported by the peer)" : "",
		 detail && *detail ? ": " : "", detail ? detail : "",
		 own_verdict_too ? "; this node's verdict on it too" : "");
	if (np->outgoing) /* our own attempt runs: its outcome decides, and is shown */
		return;
	if (np->state != NODE_PEER_UP) {
		if (np->state == NODE_PEER_IDLE)
			np->state = NODE_PEER_FAILED;
		record_error(np, hs_reason_name(reason), "an attested handshake from this address failed: %s", text);
		return;
	}
	uint64_t now = loop_now_ns();
	record_error(np, hs_reason_name(reason), "an attested handshake from this address failed (tunnel kept): %s", text);
	if (np->last_prompt_ns && now - np->last_prompt_ns < (uint64_t)PROMPT_MIN_INTERVAL_S * NSEC_PER_SEC)
		return;
	np->last_prompt_ns = now;
	start_handshake(np);
}

/* ---- transport callbacks ---- */

/*
 * Attested handshakes allocate and free in bursts (sessions, AS requests and replies, tokens), and
 * the peers' records stay between what they freed, so the heap keeps a burst's high-water mark
 * in the node's RSS. Free heap pages go back to the system once a second while handshakes end,
 * and once more a second or two after the last.
 */
static void on_trim_timer(void *ctx)
{
	struct peers *p = ctx;
	malloc_trim(0);
	if (p->trim_again) {
		p->trim_again = false;
		loop_timer_arm_in(p->loop, &p->trim_timer, TRIM_DELAY_NS);
	}
}

static void trim_later(struct peers *p)
{
	p->trim_again = true;
	if (!loop_timer_armed(&p->trim_timer))
		loop_timer_arm_in(p->loop, &p->trim_timer, TRIM_DELAY_NS);
}

static void conn_ctx_free(struct conn_ctx *cc)
{
	struct peers *p = cc->owner;
	if (cc->prev)
		cc->prev->next = cc->next;
	else
		p->conns = cc->next;
	if (cc->next)
		cc->next->prev = cc->prev;
	attestation_op_cancel(cc->evidence_op);
	attestation_op_cancel(cc->verify_op);
	free(cc);
}

/* Takes the conn's appraisal out (zeroed when there was none) and frees its owner data. */
static void conn_ctx_release(struct hs_conn *c, struct appraisal *ap)
{
	struct conn_ctx *cc = hs_conn_owner_data(c);
	memset(ap, 0, sizeof(*ap));
	if (!cc)
		return;
	*ap = cc->appraisal;
	hs_conn_set_owner_data(c, NULL);
	conn_ctx_free(cc);
}

static void on_own_evidence(void *ctx, const struct own_evidence *e)
{
	struct hs_conn *c = ctx;
	struct conn_ctx *cc = hs_conn_owner_data(c);
	if (cc)
		cc->evidence_op = NULL;
	if (e->error) {
		log_warn("attest", "own evidence unavailable: %s", e->message ? e->message : "unknown error");
		hs_conn_evidence_failed(c, e->message ? e->message : "evidence unavailable");
		return;
	}
	hs_conn_provide_evidence(c, e->tee, e->evidence, e->evidence_len, e->additional, e->additional_len);
}

static void hs_need_evidence(void *ctx, struct hs_conn *c, const char *runtime_data_json)
{
	struct peers *p = ctx;
	struct conn_ctx *cc = conn_ctx_of(p, c);
	if (!cc) {
		hs_conn_evidence_failed(c, "out of memory");
		return;
	}
	/* NULL means the callback already ran, and may have ended the conn (and freed cc). */
	struct attestation_op *op = attestation_get_evidence(p->att, runtime_data_json, on_own_evidence, c);
	if (op)
		cc->evidence_op = op;
}

static void on_peer_verdict(void *ctx, const struct peer_verdict *v)
{
	struct hs_conn *c = ctx;
	struct conn_ctx *cc = hs_conn_owner_data(c);
	if (cc) {
		struct appraisal *ap = &cc->appraisal;
		cc->owner->counters.verdicts[v->reason < PEERS_VERDICT_REASONS ? v->reason : 0]++;
		cc->verify_op = NULL;
		ap->accepted = v->accepted;
		if (v->accepted) {
			snprintf(ap->tee, sizeof(ap->tee), "%s", v->tee ? v->tee : "");
			snprintf(ap->policy_ids, sizeof(ap->policy_ids), "%s", v->policy_ids ? v->policy_ids : "");
			ap->token_exp = v->token_exp;
		} else {
			snprintf(ap->rejection, sizeof(ap->rejection), "%s", v->detail ? v->detail : "");
		}
	}
	if (v->accepted)
		hs_conn_provide_verdict(c, true, HS_OK, NULL);
	else
		hs_conn_provide_verdict(c, false,
					v->verifier_unavailable ? HS_VERIFIER_UNAVAILABLE : HS_VERIFICATION_FAILED,
					v->detail);
}

static void hs_need_verification(void *ctx, struct hs_conn *c, const struct sockaddr *peer, const char *tee,
				 const uint8_t *evidence, size_t len, const uint8_t *additional,
				 size_t additional_len, const char *expected_runtime_data_json)
{
	struct peers *p = ctx;
	struct conn_ctx *cc = conn_ctx_of(p, c);
	if (!cc) {
		hs_conn_provide_verdict(c, false, HS_VERIFIER_UNAVAILABLE, "out of memory");
		return;
	}
	cc->appraisal.requested = true;
	struct attestation_op *op = attestation_verify_peer(p->att, tee, evidence, len, additional,
							    additional_len, expected_runtime_data_json,
							    on_peer_verdict, c);
	if (op) /* else the callback already ran, as above */
		cc->verify_op = op;
}

static void hs_done(void *ctx, struct hs_conn *c, const struct sockaddr *peer, const struct hs_result *r)
{
	struct peers *p = ctx;
	uint32_t addr = sockaddr_ipv4(peer);
	struct appraisal ap;
	conn_ctx_release(c, &ap);
	trim_later(p);
	char a[INET_ADDRSTRLEN];
	addr_text(addr, a, sizeof(a));
	struct node_peer *np = addr ? peer_find_or_add(p, addr) : NULL;
	if (!np) {
		struct log_fields f = { .peer = a, .reason = "table_full" };
		log_event(LOG_WARN, "peer", &f, "attested, but the peer table is full of peers in use; not installed");
		return;
	}
	if (np->outgoing == c)
		np->outgoing = NULL;
	bool again = np->state == NODE_PEER_UP;
	if (!install(np, r, &ap))
		return;
	p->counters.attested++;
	peer_log(np, LOG_INFO, again ? "reattested" : "attested", "%s (%s; peer %s%s%s%s; WireGuard port %u)",
		 again ? "attested again, pre-shared key rotated" : "attested, tunnel installed",
		 r->we_initiated ? "we initiated" : "it initiated",
		 r->peer_attested ? "verified as " : "not verified (not required)",
		 r->peer_attested ? np->tee : "", r->peer_attested && np->policy_ids[0] ? " under " : "",
		 r->peer_attested ? np->policy_ids : "", r->peer_wg_port);
}

static void hs_failed(void *ctx, struct hs_conn *c, const struct sockaddr *peer, enum hs_reason reason,
		      bool reported_by_peer, const char *detail, bool we_initiated)
{
	struct peers *p = ctx;
	uint32_t addr = peer ? sockaddr_ipv4(peer) : 0;
	struct appraisal ap;
	conn_ctx_release(c, &ap);
	trim_later(p);
	p->counters.attested_failed[reason < HS_REASON_COUNT ? reason : HS_PROTOCOL_ERROR]++;
	struct node_peer *np = addr ? peer_find(p, addr) : NULL;
	if (np && np->outgoing == c)
		np->outgoing = NULL;
	/* A stranger whose evidence this node appraised is shown too (why can it not reach us?);
	 * one that failed before that gets no entry: it would fill the table. */
	if (!np && addr && !we_initiated && ap.requested && reason != HS_SUPERSEDED)
		np = peer_add(p, addr);
	if (reason == HS_SUPERSEDED) {
		/*
		 * The peer's own handshake to us won the tie: its outcome decides. A connection closed
		 * before its first message reports none, so once its deadline has passed, re-attest
		 * (or retry a configured peer) unless that outcome came.
		 */
		struct loop_timer *again = !np ? NULL : np->state == NODE_PEER_UP ? &np->reattest_timer
						     : np->is_static ? &np->retry_timer : NULL;
		if (again)
			loop_timer_arm_in(p->loop, again,
					  ((uint64_t)p->cfg->overlay.handshake_timeout_s + 1) * NSEC_PER_SEC);
		return;
	}
	if (!np) {
		char a[INET_ADDRSTRLEN];
		addr_text(addr, a, sizeof(a));
		struct log_fields f = { .peer = a, .reason = hs_reason_name(reason) };
		log_event(LOG_INFO, "peer", &f, "incoming attested handshake failed%s%s", detail && *detail ? ": " : "",
			  detail ? detail : "");
		return;
	}
	if (we_initiated)
		outgoing_failed(np, reason, reported_by_peer, detail, ap.rejection);
	else
		incoming_failed(np, reason, reported_by_peer, detail, ap.rejection);
}

/* ---- device hooks ---- */

static void on_unrouted(void *ctx, const uint8_t *pkt, size_t len)
{
	struct peers *p = ctx;
	if (len < 20 || (pkt[0] >> 4) != 4)
		return; /* the steering rules only capture IPv4, as TNG does */
	uint32_t dst;
	memcpy(&dst, pkt + 16, 4);
	uint32_t host = ntohl(dst);
	if (IN_MULTICAST(host) || host == INADDR_BROADCAST || host == INADDR_ANY)
		return;
	struct node_peer *np = peer_find_or_add(p, dst);
	if (!np)
		return;
	np->last_used_ns = loop_now_ns();
	held_push(np, pkt, len);
	if (np->outgoing || np->state == NODE_PEER_UP)
		return;
	if (np->state == NODE_PEER_FAILED && loop_now_ns() < np->retry_at_ns) {
		held_drop_all(np); /* fail closed until the backoff has passed */
		return;
	}
	start_handshake(np);
}

static void on_wg_event(void *ctx, struct peer *wg, enum peer_event event)
{
	struct peers *p = ctx;
	struct node_peer *np = peer_by_wg(p, wg);
	if (!np)
		return;
	switch (event) {
	case PEER_EVENT_HANDSHAKE_COMPLETE:
		p->counters.wg_handshakes++;
		if (log_get_level() >= LOG_DEBUG)
			peer_log(np, LOG_DEBUG, "keyed", "WireGuard session keyed");
		break;
	case PEER_EVENT_HANDSHAKE_GAVE_UP:
		/* The peer stopped answering (gone or restarted with a new key): attest it again. */
		p->counters.wg_gave_up++;
		uninstall(np);
		np->state = NODE_PEER_IDLE;
		record_error(np, "handshake_gave_up", "WireGuard handshake gave up; the peer is attested again on demand");
		np->last_used_ns = loop_now_ns();
		if (np->is_static)
			start_handshake(np);
		break;
	case PEER_EVENT_REMOVED:
		/* Someone else (`wg set ... remove`) removed it: forget the pointer, keep the record. */
		np->wg = NULL;
		uninstall(np);
		np->state = NODE_PEER_IDLE;
		record_error(np, "removed_over_uapi", "removed from the WireGuard device over its UAPI; attested again on demand");
		np->last_used_ns = loop_now_ns();
		known_removed(p);
		if (np->is_static)
			loop_timer_arm_in(p->loop, &np->retry_timer, backoff_ns(1));
		break;
	case PEER_EVENT_KEYS_ZEROED:
		break;
	}
}

/* ---- lifecycle and status ---- */

static struct hs_local local_hello(struct device *dev, const struct node_config *cfg, struct attestation *att)
{
	struct hs_local local = {
		.wg_port = cfg->overlay.port,
		.will_attest = attestation_attests(att),
		.requires_peer_evidence = attestation_verifies(att),
	};
	device_get_public_key(dev, local.wg_public_key);
	return local;
}

struct peers *peers_new(struct loop *loop, struct device *dev, struct attestation *att,
			const struct node_config *cfg, const char *state_dir, char *err, size_t errlen)
{
	struct peers *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->loop = loop;
	p->dev = dev;
	p->att = att;
	p->cfg = cfg;
	snprintf(p->known_path, sizeof(p->known_path), "%s/%s.peers", state_dir, cfg->overlay.ifname);
	struct hs_local local = local_hello(dev, cfg, att);
	struct hs_transport_config tc = {
		.port = cfg->overlay.port,
		.so_mark = cfg->bypass_mark,
		.deadline_ns = (uint64_t)cfg->overlay.handshake_timeout_s * NSEC_PER_SEC,
		/* Peers reach each other at most a few times a minute; a stranger gets no more. */
		.max_per_source_per_second = 2,
	};
	/* The overlay is IPv4: a handshake over IPv6 could never install a peer, only cost work. */
	tc.bind_addr.ss_family = AF_INET;
	static const struct hs_transport_ops ops = {
		.need_evidence = hs_need_evidence,
		.need_verification = hs_need_verification,
		.done = hs_done,
		.failed = hs_failed,
	};
	p->hs = hs_transport_new(loop, &tc, &local, &ops, p, err, errlen);
	if (!p->hs) {
		free(p);
		return NULL;
	}
	loop_timer_init(&p->age_timer, on_age_timer, p);
	loop_timer_arm_in(loop, &p->age_timer, (uint64_t)AGE_SWEEP_S * NSEC_PER_SEC);
	loop_timer_init(&p->known_timer, on_known_timer, p);
	loop_timer_init(&p->trim_timer, on_trim_timer, p);
	device_set_unrouted_handler(dev, on_unrouted, p);
	device_set_peer_event_handler(dev, on_wg_event, p);
	return p;
}

static bool is_own_address(uint32_t addr);

/* Whether cfg lists addr in overlay.peers. */
static bool listed(const struct node_config *cfg, uint32_t addr)
{
	for (size_t i = 0; i < cfg->overlay.n_peers; i++)
		if (cfg->overlay.peers[i] == addr)
			return true;
	return false;
}

void peers_reload(struct peers *p, struct attestation *att, const struct node_config *cfg)
{
	p->att = att;
	p->cfg = cfg;
	struct hs_local local = local_hello(p->dev, cfg, att);
	hs_transport_set_local(p->hs, &local);
	hs_transport_set_deadline(p->hs, (uint64_t)cfg->overlay.handshake_timeout_s * NSEC_PER_SEC);
	/* Handshakes under the old configuration end (and are tried again, as any busy peer's). */
	hs_transport_abort_all(p->hs, HS_BUSY, "the node is reloading its configuration");
	for (struct node_peer *np = p->list; np; np = np->next) {
		np->is_static = listed(cfg, np->addr) && !is_own_address(np->addr);
		if (np->state != NODE_PEER_UP) {
			if (np->is_static && !np->outgoing)
				start_handshake(np);
			continue;
		}
		if (attestation_verifies(att) && !np->peer_attested)
			fail_peer(np, "reload", "its tunnel was not attested, which the new configuration requires");
		else if (attestation_verifies(att) && !np->outgoing)
			start_handshake(np); /* attested again under the new trust settings; the outcome decides */
		else if (!np->outgoing)
			schedule_reattest(np);
	}
	for (size_t i = 0; i < cfg->overlay.n_peers; i++) {
		uint32_t addr = cfg->overlay.peers[i];
		struct node_peer *np = peer_find(p, addr) ? NULL : is_own_address(addr) ? NULL : peer_add(p, addr);
		if (np) {
			np->is_static = true;
			start_handshake(np);
		}
	}
}

static bool is_own_address(uint32_t addr)
{
	struct ifaddrs *list;
	bool own = false;
	if (getifaddrs(&list) != 0)
		return false;
	for (struct ifaddrs *i = list; i && !own; i = i->ifa_next)
		own = i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		      ((const struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == addr;
	freeifaddrs(list);
	return own;
}

void peers_connect_initial(struct peers *p)
{
	known_connect(p);
	for (size_t i = 0; i < p->cfg->overlay.n_peers; i++) {
		uint32_t addr = p->cfg->overlay.peers[i];
		/* One peer list may serve every node of a cluster: a node has no tunnel to itself. */
		if (is_own_address(addr)) {
			char a[INET_ADDRSTRLEN];
			addr_text(addr, a, sizeof(a));
			log_info("peer", "%s: this node's own address, skipped in overlay.peers", a);
			continue;
		}
		struct node_peer *np = peer_find_or_add(p, addr);
		if (!np)
			continue;
		np->is_static = true;
		if (!np->outgoing && np->state != NODE_PEER_UP)
			start_handshake(np);
	}
}

void peers_free(struct peers *p)
{
	if (!p)
		return;
	device_set_unrouted_handler(p->dev, NULL, NULL);
	device_set_peer_event_handler(p->dev, NULL, NULL);
	/* Freeing the transport closes every conn without callbacks: release their contexts first. */
	while (p->conns)
		conn_ctx_free(p->conns);
	hs_transport_free(p->hs);
	loop_timer_cancel(p->loop, &p->age_timer);
	loop_timer_cancel(p->loop, &p->trim_timer);
	if (loop_timer_armed(&p->known_timer))
		known_save(p); /* the tunnels as they were, before they are removed below */
	while (p->list) {
		struct node_peer *np = p->list;
		uninstall(np);
		np->outgoing = NULL;
		np->is_static = false;
		np->state = NODE_PEER_IDLE;
		peer_forget(np);
	}
	free(p);
}

void peers_for_each(struct peers *p, peers_info_fn fn, void *ctx)
{
	for (struct node_peer *np = p->list; np; np = np->next) {
		struct peer_info i = {
			.addr = np->addr, .state = state_name(np->state), .is_static = np->is_static,
			.attested = np->peer_attested, .tee = np->tee, .policy_ids = np->policy_ids,
			.token_exp = np->token_exp, .attested_at = np->attested_at,
			.attestations = np->attestations, .last_error = error_of(np),
			.last_error_at = np->last_error_at, .held_packets = np->held_count,
			.held_dropped = np->held_dropped, .wg = np->wg,
		};
		fn(ctx, &i);
	}
}

void peers_get_counters(const struct peers *p, struct peers_counters *out)
{
	*out = p->counters;
	hs_transport_get_counters(p->hs, &out->transport);
}
