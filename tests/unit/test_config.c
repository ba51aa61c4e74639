#include "policy/config.h"
#include "policy/steering.h"
#include "tests/unit/test.h"

#include <arpa/inet.h>
#include <stdlib.h>

static char err[8192];

/* True when one line of text is exactly `line`. */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, line, n) && (p[n] == '\n' || p[n] == '\0'))
			return 1;
	return 0;
}

static struct node_config *parse_ok(const char *json)
{
	struct node_config *cfg = NULL;
	err[0] = '\0';
	int rc = config_parse(json, "t.json", &cfg, err, sizeof(err));
	if (rc != 0 || !cfg)
		fprintf(stderr, "  unexpected errors:\n%s\n", err);
	return cfg;
}

/* Parses json, which must fail with `line` among the errors. */
static int fails_with(const char *json, const char *line)
{
	struct node_config *cfg = NULL;
	err[0] = '\0';
	int rc = config_parse(json, "t.json", &cfg, err, sizeof(err));
	if (rc == 0 || cfg) {
		config_free(cfg);
		fprintf(stderr, "  accepted, expected: %s\n", line);
		return 0;
	}
	if (!has_line(err, line)) {
		fprintf(stderr, "  expected: %s\n  got:\n%s\n", line, err);
		return 0;
	}
	return 1;
}

#define VERIFY "\"verify\": {\"as_addr\": \"https://as:8080\", \"policy_ids\": [\"default\"]}"
#define ATTEST "\"attest\": {\"aa_addr\": \"unix:///run/aa.sock\"}"
/* An egress entry on port 9001 with the given extra members. */
#define EGRESS(extra) "{\"add_egress\": [{\"netfilter\": {\"capture_dst\": {\"port\": 9001}}, " extra "}]}"
/* An egress entry with the given netfilter object and attest. */
#define EGRESS_NF(nf) "{\"add_egress\": [{\"netfilter\": " nf ", " ATTEST "}]}"

/* TNG's scenario file with the given text before its closing brace. */
static struct node_config *scenario_with(const char *extra)
{
	FILE *f = fopen("tests/configs/scenario-04-mesh.json", "r");
	char text[4096];
	size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
	if (f)
		fclose(f);
	text[n] = '\0';
	char *end = strrchr(text, '}');
	if (!end)
		return NULL;
	char joined[5000];
	snprintf(joined, sizeof(joined), "%.*s%s}\n", (int)(end - text), text, extra);
	struct node_config *cfg = NULL;
	config_parse(joined, "scenario.json", &cfg, err, sizeof(err));
	return cfg;
}

/* Its AS is http:// and it names no trusted_certs_paths: refused unless the risk is accepted. */
TEST(scenario_http_anchors_need_a_yes)
{
	CHECK(!scenario_with(""));
	CHECK(has_line(err, "scenario.json: add_ingress[0].verify: expected trusted_certs_paths with an "
			    "http:// as_addr: the AS's signing key would come over plain HTTP, where anyone on "
			    "the path to the AS could swap it and forge tokens; give the AS's certificate in "
			    "trusted_certs_paths, use https://, or accept the risk with \"overlay\": "
			    "{\"allow_http_as_anchors\": true}"));
	CHECK(strstr(err, "add_egress[0].verify: expected trusted_certs_paths") != NULL);
	CHECK(!scenario_with(", \"overlay\": {\"allow_http_as_anchors\": 1}"));
	CHECK(has_line(err, "scenario.json: overlay.allow_http_as_anchors: expected true or false, got 1"));
}

TEST(scenario_mesh_two_way)
{
	struct node_config *cfg = scenario_with(", \"overlay\": {\"allow_http_as_anchors\": true}");
	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK(cfg->overlay.allow_http_as_anchors);
	CHECK(cfg->n_entries == 2);
	CHECK(cfg->entries[0].kind == ENTRY_INGRESS && cfg->entries[1].kind == ENTRY_EGRESS);
	CHECK(cfg->entries[0].n_dsts == 1 && cfg->entries[0].dsts[0].has_port);
	CHECK(cfg->entries[0].dsts[0].port == 9001 && cfg->entries[0].dsts[0].port_end == 9001);
	CHECK(cfg->attest && cfg->attest->source == ATTEST_SOURCE_AA);
	CHECK_STR(cfg->attest->path, "/run/confidential-containers/attestation-agent/attestation-agent.sock");
	CHECK(cfg->attest->refresh_interval_s == 600);
	CHECK(cfg->n_verifiers == 1); /* the two identical verify objects are one verifier */
	CHECK_STR(cfg->verifiers[0]->as_addr, "http://127.0.0.1:8080/");
	CHECK(cfg->verifiers[0]->n_policy_ids == 1);
	CHECK_STR(cfg->verifiers[0]->policy_ids[0], "default");
	CHECK(!cfg->no_ra && cfg->bypass_mark == 565);
	CHECK_STR(cfg->overlay.ifname, "tngwg0");
	CHECK(cfg->overlay.port == 51820 && cfg->overlay.mtu == 1420);
	CHECK(cfg->overlay.fwmark == 51820 && cfg->overlay.table == 51820);
	CHECK(cfg->overlay.reattest_interval_s == 300 && cfg->overlay.handshake_timeout_s == 10);
	config_free(cfg);
}

TEST(scenario_missing_comma_points_at_add_egress)
{
	struct node_config *cfg;
	CHECK(config_load_file("tests/configs/scenario-04-missing-comma.json", &cfg, err, sizeof(err)) == -1);
	CHECK(!cfg);
	CHECK_STR(err, "tests/configs/scenario-04-missing-comma.json:20:5: JSON syntax error: "
		       "expected ',' or '}', got '\"'");
}

TEST(json_syntax_positions)
{
	CHECK(fails_with("{\"add_egress\": [1,]}", "t.json:1:19: JSON syntax error: expected a value "
			 "(object, array, string, number, true, false or null), got ']'"));
	CHECK(fails_with("{\n  \"überall\": \"x\n\"}", "t.json:2:16: JSON syntax error: expected '\"' "
			 "or a character (control characters must be escaped), got byte 0x0a"));
	CHECK(fails_with("{\"a\": 1", "t.json:1:8: JSON syntax error: expected ',' or '}', got end of file"));
	CHECK(fails_with("{\"a\" 1}", "t.json:1:6: JSON syntax error: expected ':' after the key, got '1'"));
	CHECK(fails_with("{} {}", "t.json:1:4: JSON syntax error: expected end of file after the "
			 "top-level value, got '{'"));
	CHECK(fails_with("", "t.json:1:1: JSON syntax error: expected a value (object, array, string, "
			 "number, true, false or null), got end of file"));
	CHECK(fails_with("[]", "t.json: (top level): expected an object, got an array"));
	/* Unpaired UTF-16 surrogates, which cJSON refuses, are located like any syntax error. */
	CHECK(fails_with("{\"a\": \"\\udefd\"}", "t.json:1:8: JSON syntax error: expected a \\u escape "
			 "other than an unpaired low surrogate (\\uDC00-\\uDFFF), got '\\'"));
	CHECK(fails_with("{\"a\": \"\\ud800x\"}", "t.json:1:14: JSON syntax error: expected a "
			 "\\uDC00-\\uDFFF escape completing the surrogate pair, got 'x'"));
	CHECK(fails_with("{\"\\ud83d\\ude00\": 1}", "t.json: \xf0\x9f\x98\x80: unknown field, expected one of: "
			 "add_ingress, add_egress, overlay, control_interface, metric, trace, admin_bind"));
}

TEST(one_way_roles)
{
	struct node_config *cfg;
	CHECK(config_load_file("tests/configs/one-way-client.json", &cfg, err, sizeof(err)) == 0);
	if (cfg) {
		CHECK(!cfg->attest && cfg->n_verifiers == 1 && !cfg->no_ra);
		const struct capture_dst *d = &cfg->entries[0].dsts[0];
		CHECK(d->has_host && d->host_addr == inet_addr("10.200.1.0") && d->host_prefix == 24);
		CHECK(cfg->overlay.n_peers == 1 && cfg->overlay.peers[0] == inet_addr("10.200.1.2"));
		config_free(cfg);
	}
	CHECK(config_load_file("tests/configs/one-way-server.json", &cfg, err, sizeof(err)) == 0);
	if (cfg) {
		CHECK(cfg->attest && cfg->attest->source == ATTEST_SOURCE_CONFIGFS_TSM);
		CHECK_STR(cfg->attest->path, "/sys/kernel/config/tsm/report");
		CHECK(cfg->n_verifiers == 0 && !cfg->no_ra);
		config_free(cfg);
	}
}

TEST(no_ra_node_with_tng_bench_fields)
{
	struct node_config *cfg;
	CHECK(config_load_file("tests/configs/no-ra-bench.json", &cfg, err, sizeof(err)) == 0);
	if (!cfg)
		return;
	CHECK(cfg->no_ra && !cfg->attest && cfg->n_verifiers == 0);
	CHECK(cfg->entries[1].capture_local_traffic && !cfg->entries[0].capture_local_traffic);
	CHECK(has_line(cfg->warnings[0], "tests/configs/no-ra-bench.json: add_ingress[0].rats_tls: ignored: "
					 "tng-wg carries traffic in WireGuard tunnels, not RA-TLS"));
	int listen_warned = 0;
	for (size_t i = 0; i < cfg->n_warnings; i++)
		listen_warned += strstr(cfg->warnings[i], "netfilter.listen_port: ignored") != NULL;
	CHECK(listen_warned == 2);
	/* capture_local_traffic: local clients of the egress port are dropped too (no "lo" exception). */
	char *rules = steering_ruleset_text(cfg);
	CHECK(rules && strstr(rules, "\t\tmeta l4proto { tcp, udp } th dport 5201 counter drop comment "
				     "\"add_egress[0].netfilter.capture_dst[0]: plaintext\"\n"));
	free(rules);
	config_free(cfg);
}

TEST(capture_dst_forms_and_overlay)
{
	struct node_config *cfg;
	CHECK(config_load_file("tests/configs/capture-forms.json", &cfg, err, sizeof(err)) == 0);
	if (!cfg)
		return;
	const struct entry *in = &cfg->entries[0], *eg = &cfg->entries[1];
	CHECK(in->n_dsts == 6 && eg->n_dsts == 2);
	CHECK(in->dsts[0].has_port && !in->dsts[0].has_host && !in->dsts[0].ipset);
	CHECK(in->dsts[1].port == 30000 && in->dsts[1].port_end == 30031);
	CHECK(in->dsts[2].has_host && !in->dsts[2].has_port && in->dsts[2].host_prefix == 16);
	CHECK(in->dsts[3].has_host && in->dsts[3].host_prefix == 32 && in->dsts[3].port == 8080);
	CHECK(in->dsts[4].ipset && !strcmp(in->dsts[4].ipset, "tng_peers") && !in->dsts[4].has_port);
	CHECK(in->dsts[5].ipset && in->dsts[5].port == 443);
	CHECK(eg->dsts[1].host_addr == inet_addr("10.200.1.1") && eg->dsts[1].port_end == 7010);
	CHECK_STR(cfg->overlay.ifname, "tngtest0");
	CHECK(cfg->overlay.port == 51999 && cfg->overlay.mtu == 1380 && cfg->overlay.n_peers == 2);
	CHECK(cfg->overlay.reattest_interval_s == 120 && cfg->overlay.handshake_timeout_s == 5);
	CHECK(cfg->overlay.fwmark == 4660 && cfg->overlay.table == 100);
	char *rules = steering_ruleset_text(cfg);
	CHECK(rules != NULL);
	if (rules) {
		CHECK(strstr(rules, "table inet tngwg_tngtest0 {\n\tset tng_peers {") != NULL);
		CHECK(strstr(rules, "\t\tip daddr @tng_peers meta l4proto { tcp, udp } th dport 443 meta mark "
				    "set 4660 ct mark set 4660 counter") != NULL);
		CHECK(strstr(rules, "\t\tmeta nfproto ipv4 meta l4proto { tcp, udp } th dport 30000-30031 "
				    "meta mark set 4660") != NULL);
		CHECK(strstr(rules, "\t\tiifname != \"lo\" ip daddr 10.200.1.1/32 meta l4proto { tcp, udp } "
				    "th dport 7000-7010 counter drop") != NULL);
		CHECK(strstr(rules, "\t\tmeta mark 565 return") != NULL);
		CHECK(strstr(rules, "th dport 51999 return") != NULL);
		/* One set declaration although two capture_dst name it. */
		CHECK(strstr(strstr(rules, "set tng_peers") + 1, "set tng_peers {") == NULL);
	}
	free(rules);
	config_free(cfg);
}

TEST(distinct_verifiers_and_shortest_refresh)
{
	struct node_config *cfg = parse_ok(
		"{\"add_ingress\": [{\"netfilter\": {\"capture_dst\": {\"port\": 1}}, "
		"\"attest\": {\"aa_addr\": \"unix:///a\", \"refresh_interval\": 60}, " VERIFY "}],"
		" \"add_egress\": [{\"netfilter\": {\"capture_dst\": {\"port\": 2}}, "
		"\"attest\": {\"aa_addr\": \"unix:///a\", \"model\": \"background_check\", \"aa_provider\": \"coco\", \"aa_type\": \"uds\"},"
		" \"verify\": {\"as_addr\": \"https://as\", \"policy_ids\": [\"prod\"], \"as_headers\": {\"X-Tenant\": \"t1\"}}}]}");
	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK(cfg->n_verifiers == 2);
	CHECK(cfg->attest->refresh_interval_s == 60);
	CHECK(cfg->verifiers[1]->n_as_headers == 1);
	CHECK_STR(cfg->verifiers[1]->as_headers[0], "X-Tenant: t1");
	config_free(cfg);
}

TEST(unknown_keys_are_errors)
{
	CHECK(fails_with("{\"metrics\": {}, \"add_egress\": []}",
			 "t.json: metrics: unknown field, expected one of: add_ingress, add_egress, overlay, "
			 "control_interface, metric, trace, admin_bind"));
	CHECK(fails_with(EGRESS_NF("{\"capture_dst\": {\"port\": 1}, \"capture_local_trafic\": true}"),
			 "t.json: add_egress[0].netfilter.capture_local_trafic: unknown field, expected one of: "
			 "capture_dst, capture_cgroup, nocapture_cgroup, listen_port, so_mark, capture_local_traffic"));
	CHECK(fails_with("{\"add_ingress\": [{\"netfilter\": {\"capture_dst\": {\"port\": 1}, "
			 "\"capture_local_traffic\": true}, " VERIFY "}]}",
			 "t.json: add_ingress[0].netfilter.capture_local_traffic: unknown field, expected one of: "
			 "capture_dst, capture_cgroup, nocapture_cgroup, listen_port, so_mark"));
	CHECK(fails_with(EGRESS_NF("{\"capture_dst\": {\"port\": 1, \"prot\": 2}}"),
			 "t.json: add_egress[0].netfilter.capture_dst.prot: unknown field, expected one of: "
			 "host, ipset, port, port_end"));
	CHECK(fails_with("{\"add_egress\": [{\"netfilter\": {\"capture_dst\": {\"port\": 9001}}, " ATTEST
			 "}], \"overlay\": {\"mtu\": 1400, \"listen\": 1}}",
			 "t.json: overlay.listen: unknown field, expected one of: interface, port, mtu, peers, "
			 "reattest_interval, handshake_timeout, fwmark, table, allow_http_as_anchors, metrics"));
	CHECK(fails_with(EGRESS(ATTEST ", \"no_ra\": false, \"no_ra\": false"),
			 "t.json: add_egress[0].no_ra: duplicate field"));
}

TEST(refused_modes_name_the_alternative)
{
	CHECK(fails_with("{\"add_ingress\": [{\"mapping\": {\"in\": {\"port\": 1}, \"out\": {\"host\": \"h\", "
			 "\"port\": 2}}, " VERIFY "}]}",
			 "t.json: add_ingress[0].mapping: tng-wg is an L3 overlay and supports only 'netfilter' "
			 "capture; use netfilter.capture_dst with the mapped port"));
	CHECK(fails_with("{\"add_ingress\": [{\"http_proxy\": {\"proxy_listen\": {\"port\": 1}}, " VERIFY "}]}",
			 "t.json: add_ingress[0].http_proxy: tng-wg is an L3 overlay and supports only "
			 "'netfilter' capture; use netfilter.capture_dst with the hosts and ports the proxy would reach"));
	CHECK(fails_with("{\"add_ingress\": [{\"socks5\": {}, " VERIFY "}]}",
			 "t.json: add_ingress[0].socks5: tng-wg is an L3 overlay and supports only "
			 "'netfilter' capture; use netfilter.capture_dst with the hosts and ports the proxy would reach"));
	CHECK(fails_with("{\"add_egress\": [{\"hook\": {}, " ATTEST "}]}",
			 "t.json: add_egress[0].hook: tng-wg is an L3 overlay and supports only 'netfilter' "
			 "capture; use netfilter.capture_dst with the ports of capture_listen"));
	CHECK(fails_with("{\"add_egress\": [{\"mapping_udp\": {}, " ATTEST "}]}",
			 "t.json: add_egress[0].mapping_udp: tng-wg is an L3 overlay and supports only 'netfilter' "
			 "capture; use netfilter.capture_dst with the UDP port (netfilter steers TCP and UDP)"));
	CHECK(fails_with(EGRESS(ATTEST ", \"decap_from_http\": {}"),
			 "t.json: add_egress[0].decap_from_http: tng-wg does not speak OHTTP: WireGuard encrypts "
			 "all steered traffic; remove it"));
	CHECK(fails_with("{\"add_ingress\": [{\"netfilter\": {\"capture_dst\": {\"port\": 1}}, \"ohttp\": {}, " VERIFY "}]}",
			 "t.json: add_ingress[0].ohttp: tng-wg does not speak OHTTP: WireGuard encrypts all "
			 "steered traffic; remove it"));
	CHECK(fails_with(EGRESS(ATTEST ", \"direct_forward\": [{\"http_path\": \"/\"}]"),
			 "t.json: add_egress[0].direct_forward: tng-wg never lets plaintext reach a protected "
			 "port; remove it, or leave that port out of capture_dst"));
	CHECK(fails_with("{\"add_egress\": [{" ATTEST "}]}",
			 "t.json: add_egress[0]: expected a capture mode: \"netfilter\" (tng-wg is an L3 overlay)"));
	CHECK(fails_with(EGRESS_NF("{\"capture_dst\": {\"port\": 1}, \"capture_cgroup\": [\"/a\"]}"),
			 "t.json: add_egress[0].netfilter.capture_cgroup: capture by cgroup is not supported by "
			 "tng-wg; use capture_dst"));
	CHECK(fails_with("{\"add_ingress\": [{\"netfilter\": {\"capture_dst\": {\"port\": 1}}, "
			 "\"web_page_inject\": true, " VERIFY "}]}",
			 "t.json: add_ingress[0].web_page_inject: The `web_page_inject` field is not supported"));
}

TEST(tng_ra_rules)
{
	CHECK(fails_with(EGRESS("\"no_ra\": true, " VERIFY),
			 "t.json: add_egress[0]: The 'no_ra: true' flag should not be used with 'verify' field"));
	CHECK(fails_with(EGRESS("\"no_ra\": true, " ATTEST),
			 "t.json: add_egress[0]: The 'no_ra: true' flag should not be used with 'attest' field"));
	CHECK(fails_with(EGRESS("\"no_ra\": false"),
			 "t.json: add_egress[0]: At least one of 'attest' and 'verify' field and '\"no_ra\": "
			 "true' should be set for 'add_egress'"));
	CHECK(fails_with(EGRESS("\"attest\": {\"aa_addr\": \"/run/aa.sock\"}"),
			 "t.json: add_egress[0].attest.aa_addr: AA address must start with unix:/// (or, for "
			 "tng-wg, configfs-tsm://), got \"/run/aa.sock\""));
	CHECK(fails_with(EGRESS("\"attest\": {}"),
			 "t.json: add_egress[0].attest.aa_addr: missing; expected \"unix:///<Attestation Agent "
			 "socket>\" or \"configfs-tsm://[<report directory>]\""));
	CHECK(fails_with(EGRESS("\"verify\": {\"as_headers\": {\"A\": \"b\"}, \"policy_ids\": [\"d\"]}"),
			 "t.json: add_egress[0].verify: 'as_headers' cannot be set without 'as_addr'"));
	CHECK(fails_with(EGRESS("\"verify\": {\"as_addr\": \"http://as\", \"policy_ids\": [\"d\"], "
				"\"skip_as_token_cert_verify\": true, \"trusted_certs_paths\": [\"/etc/hostname\"]}"),
			 "t.json: add_egress[0].verify: 'trusted_certs_paths' cannot be set when "
			 "'skip_as_token_cert_verify' is true"));
	CHECK(fails_with(EGRESS("\"verify\": {\"as_addr\": \"<attestation-service-url>\", \"policy_ids\": [\"d\"]}"),
			 "t.json: add_egress[0].verify.as_addr: expected the Attestation Service's URL (http:// "
			 "or https://), got \"<attestation-service-url>\""));
	CHECK(fails_with(EGRESS("\"verify\": {\"as_addr\": \"http://as\"}"),
			 "t.json: add_egress[0].verify.policy_ids: missing; expected a non-empty array of policy "
			 "ids, e.g. [\"default\"]"));
	CHECK(fails_with(EGRESS("\"verify\": {\"as_addr\": \"http://as\", \"policy_ids\": [\"d\"], "
				"\"trusted_certs_paths\": [\"/nonexistent/ca.pem\"]}"),
			 "t.json: add_egress[0].verify.trusted_certs_paths[0]: expected a readable PEM file, "
			 "\"/nonexistent/ca.pem\" not found"));
	CHECK(fails_with(EGRESS("\"verify\": {\"model\": \"passport\", \"as_addr\": \"http://as\", \"policy_ids\": [\"d\"]}"),
			 "t.json: add_egress[0].verify.model: \"passport\" is not supported by tng-wg: tng-wg "
			 "verifies by background check only (each verifier sends the peer's evidence to its "
			 "Attestation Service); use \"background_check\""));
	CHECK(fails_with(EGRESS("\"verify\": {\"as_type\": \"grpc\", \"as_addr\": \"http://as\", \"policy_ids\": [\"d\"]}"),
			 "t.json: add_egress[0].verify.as_type: \"grpc\" is not supported by tng-wg: tng-wg "
			 "speaks the Attestation Service's REST API; use \"restful\" and its REST URL"));
	CHECK(fails_with(EGRESS("\"verify\": {\"as_type\": \"rest\", \"as_addr\": \"http://as\", \"policy_ids\": [\"d\"]}"),
			 "t.json: add_egress[0].verify.as_type: expected one of \"restful\", \"grpc\", "
			 "\"builtin\", got \"rest\""));
	CHECK(fails_with(EGRESS("\"verify\": {\"as_addr\": \"http://as\", \"policy_ids\": [\"d\"], "
				"\"as_headers\": {\"Bad Name\": \"v\"}}"),
			 "t.json: add_egress[0].verify.as_headers.Bad Name: expected a header name (token "
			 "characters) with a string value without CR/LF, got \"v\""));
}

TEST(capture_dst_errors)
{
	CHECK(fails_with(EGRESS_NF("{\"capture_dst\": [{\"port\": 9000}, {\"port\": 9001, \"port_end\": \"x\"}]}"),
			 "t.json: add_egress[0].netfilter.capture_dst[1].port_end: expected an integer 1-65535 "
			 "≥ port (9001), got \"x\""));
	CHECK(fails_with(EGRESS_NF("{\"capture_dst\": {\"port\": 9001, \"port_end\": 9000}}"),
			 "t.json: add_egress[0].netfilter.capture_dst.port_end: expected an integer 1-65535 "
			 "≥ port (9001), got 9000"));
	CHECK(fails_with(EGRESS_NF("{\"capture_dst\": {\"port_end\": 9000}}"),
			 "t.json: add_egress[0].netfilter.capture_dst: `port_end` requires `port` to be specified"));
	CHECK(fails_with(EGRESS_NF("{\"capture_dst\": {}}"),
			 "t.json: add_egress[0].netfilter.capture_dst: one of host, ipset, port must be specified"));
	CHECK(fails_with(EGRESS_NF("{\"capture_dst\": {\"host\": \"10.0.0.0/8\", \"ipset\": \"s\"}}"),
			 "t.json: add_egress[0].netfilter.capture_dst: Only one of host or ipset can be specified"));
	CHECK(fails_with(EGRESS_NF("{\"capture_dst\": {\"host\": \"10.0.0.5/24\"}}"),
			 "t.json: add_egress[0].netfilter.capture_dst.host: expected an IPv4 address or CIDR "
			 "with the host bits zero, e.g. \"10.0.0.0/24\", got \"10.0.0.5/24\""));
	CHECK(fails_with(EGRESS_NF("{\"capture_dst\": {\"port\": 70000}}"),
			 "t.json: add_egress[0].netfilter.capture_dst.port: expected an integer 1-65535, got 70000"));
	CHECK(fails_with(EGRESS_NF("{\"capture_dst\": {\"ipset\": \"bad-name\"}}"),
			 "t.json: add_egress[0].netfilter.capture_dst.ipset: expected a set name (a letter or "
			 "'_', then letters, digits or '_'; 31 at most), got \"bad-name\""));
	CHECK(fails_with(EGRESS_NF("{\"capture_dst\": []}"),
			 "t.json: add_egress[0].netfilter.capture_dst: At least one of capture_dst, "
			 "capture_cgroup must be set and not empty (tng-wg captures by capture_dst only)"));
	CHECK(fails_with(EGRESS_NF("{\"capture_dst\": {\"port\": 51000, \"port_end\": 52000}}"),
			 "t.json: add_egress[0].netfilter.capture_dst: the ports include overlay.port 51820, "
			 "which carries the tunnels; choose another overlay.port or capture port"));
	CHECK(fails_with(EGRESS_NF("{\"capture_dst\": {\"port\": 1}, \"so_mark\": 0}"),
			 "t.json: add_egress[0].netfilter.so_mark: expected an integer 1-4294967295 (0 would "
			 "exempt every unmarked packet), got 0"));
}

TEST(node_wide_conflicts)
{
	CHECK(fails_with("{\"add_ingress\": [{\"netfilter\": {\"capture_dst\": {\"port\": 1}}, \"no_ra\": true}],"
			 " \"add_egress\": [{\"netfilter\": {\"capture_dst\": {\"port\": 2}}, " ATTEST "}]}",
			 "t.json: add_ingress[0].no_ra: tng-wg has one tunnel per pair of nodes, so no_ra must "
			 "be set on every entry or on none (add_egress[0] attests or verifies)"));
	CHECK(fails_with("{\"add_ingress\": [{\"netfilter\": {\"capture_dst\": {\"port\": 1}}, " ATTEST "}],"
			 " \"add_egress\": [{\"netfilter\": {\"capture_dst\": {\"port\": 2}}, "
			 "\"attest\": {\"aa_addr\": \"unix:///other.sock\"}}]}",
			 "t.json: add_egress[0].attest.aa_addr: expected \"unix:///run/aa.sock\" like "
			 "add_ingress[0].attest (a node attests with one evidence source), got \"unix:///other.sock\""));
	CHECK(fails_with("{\"add_ingress\": [{\"netfilter\": {\"capture_dst\": {\"port\": 1}}, " ATTEST "}],"
			 " \"add_egress\": [{\"netfilter\": {\"capture_dst\": {\"port\": 2}, \"so_mark\": 600}, " ATTEST "}]}",
			 "t.json: add_egress[0].netfilter.so_mark: expected 565 like add_ingress[0] (tng-wg's own "
			 "sockets carry one bypass mark), got 600"));
	CHECK(fails_with("{\"add_egress\": [{\"netfilter\": {\"capture_dst\": {\"port\": 1}, \"so_mark\": 77}, "
			 ATTEST "}], \"overlay\": {\"fwmark\": 77}}",
			 "t.json: overlay.fwmark: expected a mark other than the bypass mark (so_mark), got 77"));
	CHECK(fails_with("{}", "t.json: expected at least one entry in add_ingress or add_egress"));
	CHECK(fails_with("{\"add_egress\": [{\"netfilter\": {\"capture_dst\": {\"port\": 1}}, " ATTEST "}],"
			 " \"overlay\": {\"table\": 254}}",
			 "t.json: overlay.table: expected a routing table number 1-4294967295 other than 253-255 "
			 "(the kernel's default, main and local), got 254"));
	CHECK(fails_with("{\"add_egress\": [{\"netfilter\": {\"capture_dst\": {\"port\": 1}}, " ATTEST "}],"
			 " \"overlay\": {\"interface\": \"this-name-is-too-long\"}}",
			 "t.json: overlay.interface: expected an interface name of 1-15 letters, digits, '_' or "
			 "'-' starting with a letter, got \"this-name-is-too-long\""));
	CHECK(fails_with("{\"add_egress\": [{\"netfilter\": {\"capture_dst\": {\"port\": 1}}, " ATTEST "}],"
			 " \"overlay\": {\"peers\": [\"10.0.0.1\", \"10.0.0.300\"]}}",
			 "t.json: overlay.peers[1]: expected an IPv4 address, got \"10.0.0.300\""));
}

TEST(every_error_is_reported)
{
	struct node_config *cfg;
	CHECK(config_load_file("tests/configs/bad-several.json", &cfg, err, sizeof(err)) == -1);
	static const char *const lines[] = {
		"tests/configs/bad-several.json: metrics: unknown field, expected one of: add_ingress, "
		"add_egress, overlay, control_interface, metric, trace, admin_bind",
		"tests/configs/bad-several.json: add_egress[0].netfilter.capture_locl_traffic: unknown field, "
		"expected one of: capture_dst, capture_cgroup, nocapture_cgroup, listen_port, so_mark, "
		"capture_local_traffic",
		"tests/configs/bad-several.json: add_egress[0].netfilter.capture_dst[1].port_end: expected an "
		"integer 1-65535 ≥ port (9001), got \"x\"",
		"tests/configs/bad-several.json: add_egress[0]: The 'no_ra: true' flag should not be used "
		"with 'verify' field",
		"tests/configs/bad-several.json: add_egress[0].verify: 'as_headers' cannot be set without 'as_addr'",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		CHECK(has_line(err, lines[i]));
	CHECK(config_load_file("tests/configs/does-not-exist.json", &cfg, err, sizeof(err)) == -1);
	CHECK_STR(err, "tests/configs/does-not-exist.json: cannot open: No such file or directory");
	CHECK(config_load_file("tests/configs", &cfg, err, sizeof(err)) == -1);
	CHECK_STR(err, "tests/configs: cannot read: Is a directory");
}

TEST(tng_only_fields_warn)
{
	struct node_config *cfg = parse_ok(
		"{\"add_egress\": [{\"netfilter\": {\"capture_dst\": {\"port\": 1}, \"listen_port\": 40000}, "
		"\"rats_tls\": {\"multiplex\": true}, " VERIFY "}], \"metric\": {}, \"trace\": {}}");
	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK(cfg->n_warnings == 4);
	CHECK(has_line(cfg->warnings[2], "t.json: metric: accepted for TNG compatibility but not used by "
					 "tng-wg (see 'tng-wg show')"));
	config_free(cfg);
}

/* overlay.metrics: a port on loopback, or an explicit address; anything else names the forms. */
TEST(metrics_address_forms)
{
	static const struct {
		const char *value;
		int family;
		const char *addr;
		unsigned port;
	} good[] = { { "9586", AF_INET, "127.0.0.1", 9586 },
		     { "\"0.0.0.0:9100\"", AF_INET, "0.0.0.0", 9100 },
		     { "\"[::1]:9586\"", AF_INET6, "::1", 9586 } };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char json[256];
		snprintf(json, sizeof(json), "{\"add_egress\": [{\"netfilter\": {\"capture_dst\": {\"port\": 9001}}, "
			 ATTEST "}], \"overlay\": {\"metrics\": %s}}", good[i].value);
		struct node_config *cfg = parse_ok(json);
		CHECK(cfg && cfg->overlay.metrics && cfg->overlay.metrics_addr.ss_family == good[i].family);
		char text[64] = "";
		unsigned port = 0;
		if (cfg && good[i].family == AF_INET) {
			const struct sockaddr_in *a = (const void *)&cfg->overlay.metrics_addr;
			inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text));
			port = ntohs(a->sin_port);
		} else if (cfg) {
			const struct sockaddr_in6 *a = (const void *)&cfg->overlay.metrics_addr;
			inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text));
			port = ntohs(a->sin6_port);
		}
		CHECK_STR(text, good[i].addr);
		CHECK(port == good[i].port);
		config_free(cfg);
	}
	static const char *const bad[] = { "0", "70000", "\"9586\"", "\"localhost:9586\"", "\"::1:9586\"", "true" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char json[256], line[256];
		snprintf(json, sizeof(json), "{\"add_egress\": [{\"netfilter\": {\"capture_dst\": {\"port\": 9001}}, "
			 ATTEST "}], \"overlay\": {\"metrics\": %s}}", bad[i]);
		snprintf(line, sizeof(line), "t.json: overlay.metrics: expected a TCP port (served on 127.0.0.1) or "
			 "\"address:port\", e.g. \"127.0.0.1:9586\" or \"[::1]:9586\", got %s", bad[i]);
		CHECK(fails_with(json, line));
	}
	CHECK(fails_with("{\"add_egress\": [{\"netfilter\": {\"capture_dst\": {\"port\": 9001}}, " ATTEST
			 "}], \"overlay\": {\"port\": 9586, \"metrics\": 9586}}",
			 "t.json: overlay.metrics: expected a port other than overlay.port 9586, which carries the "
			 "attested handshakes"));
}

int main(void)
{
	TEST_BEGIN("config");
	RUN(scenario_http_anchors_need_a_yes);
	RUN(metrics_address_forms);
	RUN(scenario_mesh_two_way);
	RUN(scenario_missing_comma_points_at_add_egress);
	RUN(json_syntax_positions);
	RUN(one_way_roles);
	RUN(no_ra_node_with_tng_bench_fields);
	RUN(capture_dst_forms_and_overlay);
	RUN(distinct_verifiers_and_shortest_refresh);
	RUN(unknown_keys_are_errors);
	RUN(refused_modes_name_the_alternative);
	RUN(tng_ra_rules);
	RUN(capture_dst_errors);
	RUN(node_wide_conflicts);
	RUN(every_error_is_reported);
	RUN(tng_only_fields_warn);
	TEST_END();
}
