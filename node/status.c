#include "node/status.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/verifier.h"
#include "handshake/reasons.h"

/* Every drop counter of the device, by the name `tng-wg stats` and the JSON use. */
#define DEVICE_COUNTERS(X)                                                                          \
	X(rx_invalid_length) X(rx_unknown_type) X(rx_bad_mac) X(rx_unknown_index) X(rx_decrypt_failed) \
	X(rx_replayed) X(rx_bad_inner_source) X(rx_handshake_invalid) X(rx_ratelimited) X(tx_no_route) \
	X(tx_no_endpoint) X(tx_routing_loop) X(tx_invalid_offload)

static void key_text(const uint8_t key[WG_KEY_LEN], char out[64])
{
	sodium_bin2base64(out, 64, key, WG_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
}

static void addr_text(uint32_t addr, char out[INET_ADDRSTRLEN])
{
	struct in_addr a = { .s_addr = addr };
	inet_ntop(AF_INET, &a, out, INET_ADDRSTRLEN);
}

/* ---- JSON ---- */

static void add_time(cJSON *o, const char *key, int64_t t)
{
	if (t <= 0) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON_AddStringToObject(o, key, buf);
}

static void peer_json(void *ctx, const struct peer_info *i)
{
	cJSON *o = cJSON_CreateObject();
	char a[INET_ADDRSTRLEN];
	addr_text(i->addr, a);
	cJSON_AddStringToObject(o, "address", a);
	cJSON_AddStringToObject(o, "state", i->state);
	cJSON_AddBoolToObject(o, "static", i->is_static);
	cJSON_AddBoolToObject(o, "attested", i->attested);
	cJSON_AddStringToObject(o, "tee", i->tee);
	cJSON_AddStringToObject(o, "policy_ids", i->policy_ids);
	add_time(o, "token_expiry", i->token_exp);
	add_time(o, "attested_at", i->attested_at);
	cJSON_AddNumberToObject(o, "attestations", i->attestations);
	cJSON_AddStringToObject(o, "last_error", i->last_error);
	add_time(o, "last_error_at", i->last_error_at);
	cJSON_AddNumberToObject(o, "held_packets_dropped", (double)i->held_dropped);
	if (i->wg) {
		uint8_t key[WG_KEY_LEN];
		char b64[64];
		peer_public_key(i->wg, key);
		key_text(key, b64);
		cJSON_AddStringToObject(o, "public_key", b64);
		struct peer_stats st;
		peer_get_stats(i->wg, &st);
		add_time(o, "latest_handshake", st.last_handshake_sec);
		cJSON_AddNumberToObject(o, "rx_bytes", (double)st.rx_bytes);
		cJSON_AddNumberToObject(o, "tx_bytes", (double)st.tx_bytes);
		union endpoint_addr ep;
		char e[64];
		if (peer_get_endpoint(i->wg, &ep) && ep.sa.sa_family == AF_INET)
			cJSON_AddStringToObject(o, "endpoint", endpoint_to_string(&ep, e));
	}
	cJSON_AddItemToArray(ctx, o);
}

static char *with_newline(char *text)
{
	size_t len = text ? strlen(text) : 0;
	char *out = text ? realloc(text, len + 2) : NULL;
	if (!out)
		return text;
	out[len] = '\n';
	out[len + 1] = '\0';
	return out;
}

char *status_json(const struct status_source *s)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "interface", device_ifname(s->dev));
	uint8_t key[WG_KEY_LEN];
	if (device_get_public_key(s->dev, key)) {
		char b64[64];
		key_text(key, b64);
		cJSON_AddStringToObject(o, "public_key", b64);
	}
	cJSON_AddNumberToObject(o, "port", device_listen_port(s->dev));
	cJSON_AddStringToObject(o, "config", s->cfg->path ? s->cfg->path : "");
	cJSON_AddStringToObject(o, "attests", s->cfg->attest ? s->cfg->attest->aa_addr : "");
	cJSON *v = cJSON_AddArrayToObject(o, "verifies");
	for (size_t i = 0; i < s->cfg->n_verifiers; i++)
		cJSON_AddItemToArray(v, cJSON_CreateString(s->cfg->verifiers[i]->as_addr));
	cJSON_AddNumberToObject(o, "reattest_interval", s->cfg->overlay.reattest_interval_s);
	cJSON_AddBoolToObject(o, "ready", s->ready);
	peers_for_each(s->peers, peer_json, cJSON_AddArrayToObject(o, "peers"));
	struct device_counters c;
	device_get_counters(s->dev, &c);
	cJSON *d = cJSON_AddObjectToObject(o, "dropped");
#define JSON_COUNTER(name) cJSON_AddNumberToObject(d, #name, (double)c.name);
	DEVICE_COUNTERS(JSON_COUNTER)
#undef JSON_COUNTER
	char *text = cJSON_Print(o);
	cJSON_Delete(o);
	return with_newline(text);
}

/* ---- Prometheus text exposition ---- */

/* A label value: backslash, quote and newline escaped. */
static void put_label(FILE *out, const char *name, const char *value, bool first)
{
	fprintf(out, "%s%s=\"", first ? "" : ",", name);
	for (; *value; value++) {
		if (*value == '\\' || *value == '"')
			fputc('\\', out);
		if (*value == '\n')
			fputs("\\n", out);
		else
			fputc(*value, out);
	}
	fputc('"', out);
}

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample; labels is the text between the braces, "" for none. */
static void sample(FILE *out, const char *name, const char *labels, uint64_t value)
{
	fprintf(out, "%s%s%s%s %llu\n", name, *labels ? "{" : "", labels, *labels ? "}" : "", (unsigned long long)value);
}

struct allowed_ips_text {
	char text[512];
	size_t len;
};

static void append_allowed_ip(void *ctx, int fam, const uint8_t *addr, uint8_t cidr)
{
	struct allowed_ips_text *t = ctx;
	char a[INET6_ADDRSTRLEN];
	inet_ntop(fam, addr, a, sizeof(a));
	if (t->len < sizeof(t->text))
		t->len += (size_t)snprintf(t->text + t->len, sizeof(t->text) - t->len, "%s%s/%u", t->len ? "," : "",
					   a, cidr);
}

/* The WireGuard exporter's three series per peer, as prometheus_wireguard_exporter names them. */
struct wg_series {
	FILE *out;
	const char *ifname;
	int which;
};

static void wg_series_of(void *ctx, const struct peer_info *i)
{
	struct wg_series *w = ctx;
	if (!i->wg)
		return;
	uint8_t key[WG_KEY_LEN];
	char b64[64];
	peer_public_key(i->wg, key);
	key_text(key, b64);
	struct allowed_ips_text ips = { .len = 0 };
	ips.text[0] = '\0';
	peer_for_each_allowed_ip(i->wg, append_allowed_ip, &ips);
	struct peer_stats st;
	peer_get_stats(i->wg, &st);
	static const char *names[] = { "wireguard_sent_bytes_total", "wireguard_received_bytes_total",
				       "wireguard_latest_handshake_seconds" };
	fprintf(w->out, "%s{", names[w->which]);
	put_label(w->out, "interface", w->ifname, true);
	put_label(w->out, "public_key", b64, false);
	put_label(w->out, "allowed_ips", ips.text, false);
	uint64_t value = w->which == 0 ? st.tx_bytes : w->which == 1 ? st.rx_bytes : (uint64_t)st.last_handshake_sec;
	fprintf(w->out, "} %llu\n", (unsigned long long)value);
}

struct peer_series {
	FILE *out;
	unsigned states[4];
	uint64_t held, held_dropped;
};

static const char *const peer_states[] = { "idle", "attesting", "up", "failed" };

static void count_peer(void *ctx, const struct peer_info *i)
{
	struct peer_series *p = ctx;
	for (size_t k = 0; k < 4; k++)
		p->states[k] += !strcmp(i->state, peer_states[k]);
	p->held += i->held_packets;
	p->held_dropped += i->held_dropped;
}

static void token_expiry_of(void *ctx, const struct peer_info *i)
{
	if (!i->token_exp)
		return;
	char a[INET_ADDRSTRLEN];
	addr_text(i->addr, a);
	fprintf(ctx, "tngwg_peer_token_expiry_seconds{");
	put_label(ctx, "peer", a, true);
	fprintf(ctx, "} %lld\n", (long long)i->token_exp);
}

static void wireguard_metrics(FILE *out, const struct status_source *s)
{
	static const char *help[][2] = {
		{ "wireguard_sent_bytes_total", "Bytes sent to the peer" },
		{ "wireguard_received_bytes_total", "Bytes received from the peer" },
		{ "wireguard_latest_handshake_seconds", "Unix time of the latest WireGuard handshake with the peer" },
	};
	for (int k = 0; k < 3; k++) {
		family(out, help[k][0], k < 2 ? "counter" : "gauge", help[k][1]);
		struct wg_series w = { out, device_ifname(s->dev), k };
		peers_for_each(s->peers, wg_series_of, &w);
	}
}

static void peer_metrics(FILE *out, const struct status_source *s)
{
	struct peer_series ps = { .out = out };
	peers_for_each(s->peers, count_peer, &ps);
	family(out, "tngwg_peers", "gauge", "Peers of this node by attestation state");
	for (size_t k = 0; k < 4; k++) {
		char labels[32];
		snprintf(labels, sizeof(labels), "state=\"%s\"", peer_states[k]);
		sample(out, "tngwg_peers", labels, ps.states[k]);
	}
	family(out, "tngwg_peer_token_expiry_seconds", "gauge", "Unix time the peer's attestation token expires");
	peers_for_each(s->peers, token_expiry_of, out);
	family(out, "tngwg_held_packets", "gauge", "Packets held while their peer is being attested");
	sample(out, "tngwg_held_packets", "", ps.held);
	family(out, "tngwg_held_packets_dropped_total", "counter",
	       "Held packets dropped (attestation failed, timed out, or queue full): nothing leaves in plaintext");
	sample(out, "tngwg_held_packets_dropped_total", "", ps.held_dropped);
}

static void attestation_metrics(FILE *out, const struct status_source *s)
{
	struct peers_counters c;
	peers_get_counters(s->peers, &c);
	family(out, "tngwg_attestations_total", "counter",
	       "This node's appraisals of peers' evidence, by result and reason");
	for (int r = 0; r < PEERS_VERDICT_REASONS; r++) {
		const char *name = verdict_reason_name((enum verdict_reason)r);
		if (r && !strcmp(name, "unknown"))
			break;
		char labels[96];
		snprintf(labels, sizeof(labels), "result=\"%s\",reason=\"%s\"",
			 r == VERDICT_ACCEPTED ? "accepted" : "rejected", name);
		sample(out, "tngwg_attestations_total", labels, c.verdicts[r]);
	}
	family(out, "tngwg_handshakes_total", "counter",
	       "Handshakes by kind (attested: tng-wg/1, wireguard: of attested peers) and result");
	sample(out, "tngwg_handshakes_total", "kind=\"attested\",result=\"ok\",reason=\"ok\"", c.attested);
	for (int r = 1; r < HS_REASON_COUNT; r++) {
		char labels[96];
		snprintf(labels, sizeof(labels), "kind=\"attested\",result=\"failed\",reason=\"%s\"",
			 hs_reason_name((enum hs_reason)r));
		sample(out, "tngwg_handshakes_total", labels, c.attested_failed[r]);
	}
	sample(out, "tngwg_handshakes_total", "kind=\"wireguard\",result=\"ok\",reason=\"ok\"", c.wg_handshakes);
	sample(out, "tngwg_handshakes_total", "kind=\"wireguard\",result=\"failed\",reason=\"gave_up\"", c.wg_gave_up);
	family(out, "tngwg_handshakes_refused_total", "counter",
	       "Incoming attested handshakes refused before they started, by reason");
	sample(out, "tngwg_handshakes_refused_total", "reason=\"busy\"", c.transport.rejected_busy);
	sample(out, "tngwg_handshakes_refused_total", "reason=\"source_busy\"", c.transport.rejected_source_busy);
	sample(out, "tngwg_handshakes_refused_total", "reason=\"rate_limited\"", c.transport.rejected_rate_limited);
	family(out, "tngwg_peer_refusals_total", "counter", "Attested peers refused or removed by this node, by reason");
	sample(out, "tngwg_peer_refusals_total", "reason=\"key_conflict\"", c.key_conflicts);
	sample(out, "tngwg_peer_refusals_total", "reason=\"token_expired\"", c.tokens_lapsed);
	struct attestation_stats st;
	attestation_get_stats(s->att, &st);
	family(out, "tngwg_as_request_duration_seconds", "histogram", "Round trips to the Attestation Service");
	for (int b = 0; b < ATTESTATION_RTT_BUCKETS; b++) {
		char labels[32];
		snprintf(labels, sizeof(labels), "le=\"%g\"", ATTESTATION_RTT_BOUNDS[b]);
		sample(out, "tngwg_as_request_duration_seconds_bucket", labels, st.rtt_le[b]);
	}
	sample(out, "tngwg_as_request_duration_seconds_bucket", "le=\"+Inf\"", st.rtt_count);
	fprintf(out, "tngwg_as_request_duration_seconds_sum %g\n", st.rtt_sum);
	sample(out, "tngwg_as_request_duration_seconds_count", "", st.rtt_count);
}

static void device_metrics(FILE *out, const struct status_source *s)
{
	struct device_counters c;
	device_get_counters(s->dev, &c);
	family(out, "tngwg_dropped_packets_total", "counter",
	       "Packets the WireGuard device dropped, by reason (as tng-wg stats shows them)");
#define METRIC_COUNTER(name) sample(out, "tngwg_dropped_packets_total", "reason=\"" #name "\"", c.name);
	DEVICE_COUNTERS(METRIC_COUNTER)
#undef METRIC_COUNTER
	family(out, "tngwg_ready", "gauge", "1 once this node has its own evidence and its Attestation Services answered");
	sample(out, "tngwg_ready", "", s->ready);
}

char *status_metrics(const struct status_source *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	if (!out)
		return NULL;
	wireguard_metrics(out, s);
	peer_metrics(out, s);
	attestation_metrics(out, s);
	device_metrics(out, s);
	if (fclose(out) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
