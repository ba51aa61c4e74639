#!/usr/bin/env bash
# 'tng-wg check' on the files in tests/configs: exit codes, the summary of good configs, every
# error of bad ones with file, JSON path or line:column, and a --show-rules ruleset that nft
# accepts (checked with 'nft -c' in a namespace of this test).
. "$(dirname "$0")/../lib/common.sh"
require_root
require_cmd nft ip openssl jq
[ -x "$TNGWG" ] || { echo "FAIL check: $TNGWG is not built"; exit 1; }
cd "$ROOT_DIR" || exit 1
configs=tests/configs

# run_check ARGS...: stdout in $T_TMP/out, stderr in $T_TMP/err, exit code in $rc
run_check() {
	"$TNGWG" check "$@" >"$T_TMP/out" 2>"$T_TMP/err"
	rc=$?
}

# has_line FILE LINE: FILE has exactly LINE as one of its lines
has_line() { grep -qxF -- "$2" "$1"; }

# TNG's scenario verifies with an http:// AS and no trusted_certs_paths: refused, naming the ways out.
run_check "$configs/scenario-04-mesh.json"
for entry in add_ingress add_egress; do
	if [ "$rc" -eq 1 ] && has_line "$T_TMP/err" "$configs/scenario-04-mesh.json: $entry[0].verify: expected trusted_certs_paths with an http:// as_addr: the AS's signing key would come over plain HTTP, where anyone on the path to the AS could swap it and forge tokens; give the AS's certificate in trusted_certs_paths, use https://, or accept the risk with \"overlay\": {\"allow_http_as_anchors\": true}"; then
		pass "scenario_http_anchors_refused_$entry"
	else
		fail "scenario_http_anchors_refused_$entry" "rc=$rc: $(cat "$T_TMP/out" "$T_TMP/err")"
	fi
done

# With the risk accepted in so many words, the scenario runs as it is.
jq '.overlay = {"allow_http_as_anchors": true}' "$configs/scenario-04-mesh.json" >"$T_TMP/scenario.json"
run_check "$T_TMP/scenario.json"
if [ "$rc" -eq 0 ] && has_line "$T_TMP/out" "$T_TMP/scenario.json: OK" &&
	has_line "$T_TMP/out" "  attests: unix:///run/confidential-containers/attestation-agent/attestation-agent.sock (evidence refreshed every 600 s)" &&
	has_line "$T_TMP/out" "  verifies: peers with http://127.0.0.1:8080/, policy_ids default (token keys fetched from the AS once, over plain HTTP, and pinned)" &&
	has_line "$T_TMP/out" "  add_ingress[0]: tcp/udp to port 9001: steered into the overlay" &&
	has_line "$T_TMP/out" "  add_egress[0]: tcp/udp to port 9001: reachable only through the overlay (and from local clients)" &&
	has_line "$T_TMP/out" "  overlay: interface tngwg0, port 51820 (UDP and TCP), mtu 1420, steering mark 51820 -> table 51820, bypass mark 565"; then
	pass scenario_ok_with_summary
else
	fail scenario_ok_with_summary "rc=$rc: $(cat "$T_TMP/out" "$T_TMP/err")"
fi

# The AA socket may come up after the check: a warning, not an error.
if grep -q "warning: .*add_ingress\[0\].attest.aa_addr: AA socket file \"/run/confidential-containers/attestation-agent/attestation-agent.sock\" not found (yet)" "$T_TMP/err" ||
	[ -S /run/confidential-containers/attestation-agent/attestation-agent.sock ]; then
	pass missing_aa_socket_warns
else
	fail missing_aa_socket_warns "$(cat "$T_TMP/err")"
fi

run_check "$configs/scenario-04-missing-comma.json"
if [ "$rc" -eq 1 ] && [ ! -s "$T_TMP/out" ] &&
	has_line "$T_TMP/err" "$configs/scenario-04-missing-comma.json:20:5: JSON syntax error: expected ',' or '}', got '\"'"; then
	pass missing_comma_line_and_column
else
	fail missing_comma_line_and_column "rc=$rc: $(cat "$T_TMP/err")"
fi
# Line 20, column 5 is where "add_egress" starts in that file.
if [ "$(sed -n 20p "$configs/scenario-04-missing-comma.json" | cut -c5-16)" = '"add_egress"' ]; then
	pass missing_comma_position_is_add_egress
else
	fail missing_comma_position_is_add_egress "line 20: $(sed -n 20p "$configs/scenario-04-missing-comma.json")"
fi

run_check "$configs/bad-several.json"
f="$configs/bad-several.json"
if [ "$rc" -eq 1 ] &&
	has_line "$T_TMP/err" "$f: metrics: unknown field, expected one of: add_ingress, add_egress, overlay, control_interface, metric, trace, admin_bind" &&
	has_line "$T_TMP/err" "$f: add_egress[0].netfilter.capture_locl_traffic: unknown field, expected one of: capture_dst, capture_cgroup, nocapture_cgroup, listen_port, so_mark, capture_local_traffic" &&
	has_line "$T_TMP/err" "$f: add_egress[0].netfilter.capture_dst[1].port_end: expected an integer 1-65535 ≥ port (9001), got \"x\"" &&
	has_line "$T_TMP/err" "$f: add_egress[0]: The 'no_ra: true' flag should not be used with 'verify' field" &&
	has_line "$T_TMP/err" "$f: add_egress[0].verify: 'as_headers' cannot be set without 'as_addr'" &&
	has_line "$T_TMP/err" "$f: add_egress[0].verify.as_addr: missing; expected the Attestation Service's URL (http:// or https://)"; then
	pass every_error_reported
else
	fail every_error_reported "rc=$rc: $(cat "$T_TMP/err")"
fi

run_check "$configs/bad-mapping.json"
if [ "$rc" -eq 1 ] && has_line "$T_TMP/err" "$configs/bad-mapping.json: add_ingress[0].mapping: tng-wg is an L3 overlay and supports only 'netfilter' capture; use netfilter.capture_dst with the mapped port"; then
	pass mapping_refused_by_name
else
	fail mapping_refused_by_name "rc=$rc: $(cat "$T_TMP/err")"
fi

run_check "$configs/no-ra-bench.json"
if [ "$rc" -eq 0 ] && has_line "$T_TMP/out" "  no_ra: neither attests nor verifies (debugging only)" &&
	has_line "$T_TMP/err" "warning: $configs/no-ra-bench.json: add_ingress[0].netfilter.listen_port: ignored: tng-wg steers packets into its overlay interface and has no listener" &&
	has_line "$T_TMP/err" "warning: $configs/no-ra-bench.json: add_egress[0].rats_tls: ignored: tng-wg carries traffic in WireGuard tunnels, not RA-TLS"; then
	pass tng_bench_config_accepted_with_warnings
else
	fail tng_bench_config_accepted_with_warnings "rc=$rc: $(cat "$T_TMP/out" "$T_TMP/err")"
fi

for c in one-way-client one-way-server capture-forms; do
	run_check "$configs/$c.json"
	if [ "$rc" -eq 0 ] && has_line "$T_TMP/out" "$configs/$c.json: OK"; then
		pass "ok_$c"
	else
		fail "ok_$c" "rc=$rc: $(cat "$T_TMP/err")"
	fi
done

# Where the token keys come from: the configured files, the AS, or (testing) the token itself.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=as-ca -days 1 \
	-keyout "$T_TMP/ca.key" -out "$T_TMP/ca.pem" 2>/dev/null
cat >"$T_TMP/keys.json" <<JSON
{ "add_egress": [
  { "netfilter": { "capture_dst": { "port": 9001 } },
    "verify": { "as_addr": "http://10.0.0.254:8080", "policy_ids": ["a"], "skip_as_token_cert_verify": true } },
  { "netfilter": { "capture_dst": { "port": 9002 } },
    "verify": { "as_addr": "http://10.0.0.254:8080", "policy_ids": ["b"],
                "trusted_certs_paths": ["$T_TMP/ca.pem"] } } ] }
JSON
run_check "$T_TMP/keys.json"
if [ "$rc" -eq 0 ] &&
	has_line "$T_TMP/out" "  verifies: peers with http://10.0.0.254:8080, policy_ids a (the token's own key, unchecked: testing only)" &&
	has_line "$T_TMP/out" "  verifies: peers with http://10.0.0.254:8080, policy_ids b"; then
	pass summary_names_the_token_key_source
else
	fail summary_names_the_token_key_source "rc=$rc: $(cat "$T_TMP/out" "$T_TMP/err")"
fi

run_check "$T_TMP/absent.json"
if [ "$rc" -eq 1 ] && has_line "$T_TMP/err" "$T_TMP/absent.json: cannot open: No such file or directory"; then
	pass missing_file
else
	fail missing_file "rc=$rc: $(cat "$T_TMP/err")"
fi

run_check
if [ "$rc" -eq 2 ] && grep -q '^Usage: tng-wg check' "$T_TMP/err"; then
	pass usage_without_file
else
	fail usage_without_file "rc=$rc"
fi

# --show-rules prints a ruleset that nftables accepts as it is.
run_check --show-rules "$configs/capture-forms.json"
ns_new check >/dev/null  # not in $(...): the registration for clean-up must happen in this shell
ns="$T_PREFIX-check"
sed -n '/^table inet tngwg_tngtest0 {$/,$p' "$T_TMP/out" >"$T_TMP/rules.nft"
if [ "$rc" -eq 0 ] && [ -s "$T_TMP/rules.nft" ] && ip netns exec "$ns" nft -c -f "$T_TMP/rules.nft" 2>"$T_TMP/nft.err"; then
	pass show_rules_accepted_by_nft
else
	fail show_rules_accepted_by_nft "rc=$rc: $(cat "$T_TMP/nft.err")"
fi

finish
