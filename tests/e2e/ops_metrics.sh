#!/usr/bin/env bash
# The metrics endpoint (overlay.metrics) and health checks, scraped with curl and linted with
# promtool (Debian's prometheus package). Nodes 1 and 2 run the scenario config with metrics on
# port 9586 (loopback), node 3 without.
#   - before the AS answers, node 1's /livez says ok and /readyz 503; once it answers, 200;
#   - after traffic 1 -> 2, /metrics is valid exposition (promtool), with the WireGuard exporter's
#     three series (names, types, labels interface, public_key, allowed_ips) and tng-wg's own, and
#     the values agree with `tng-wg show --json`: bytes, latest handshake, peers by state, token
#     expiry, attestations and handshakes, drop counters, the AS round-trip histogram;
#   - malformed datagrams show in the drop counters, as in show;
#   - the endpoint is only where configured: node 3 serves none, node 1 none on its other
#     addresses; a client that connects and sends nothing costs nothing (show still answers).
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test
require_cmd curl promtool

marker="tngwg-metrics-$RANDOM$RANDOM"
URL=http://127.0.0.1:9586

get() { mesh_node_exec "$1" curl -s -m 5 -o "$T_TMP/body" -w '%{http_code}' "$URL$2"; }
status_is() { [ "$(get "$1" "$2")" = "$3" ]; }

setup() {
	jq '.overlay = {"metrics": 9586}' "$ROOT_DIR/netns-scripts/configs/mesh-two-way-ra.json" >"$T_TMP/metrics.json" &&
		mesh_create 3 && mesh_start_as && mesh_stop_as &&
		mesh_start 1 "$T_TMP/metrics.json" && mesh_start 2 "$T_TMP/metrics.json" &&
		mesh_start 3 "$ROOT_DIR/netns-scripts/configs/mesh-two-way-ra.json" && mesh_echo_server 2 tcp 9001
}

health() {
	check ops_metrics.livez status_is 1 /livez 200
	check ops_metrics.not_ready_without_as status_is 1 /readyz 503
	check ops_metrics.metrics_say_not_ready grep -qx 'tngwg_ready 0' <(mesh_node_exec 1 curl -s "$URL/metrics")
	mesh_start_as
	check ops_metrics.ready_once_as_answers wait_for 20 status_is 1 /readyz 200
	check ops_metrics.unknown_path_404 status_is 1 /nothing 404
}

# The value of the series with exactly the labels given (a regular expression for the name and
# labels), from the scrape in $T_TMP/metrics.
value_of() { awk -v s="$1" '$0 ~ "^" s " " { print $NF }' "$T_TMP/metrics"; }
show_field() { jq -r "$1" "$T_TMP/show.json"; }
epoch() { date -u -d "$1" +%s; }

exposition() {
	check ops_metrics.traffic mesh_reaches 1 2 tcp 9001 "$marker"
	mesh_node_exec 1 "$TNGWG" show --json tngwg0 >"$T_TMP/show.json"
	mesh_node_exec 1 curl -s "$URL/metrics" >"$T_TMP/metrics"
	check ops_metrics.promtool_lint promtool check metrics <"$T_TMP/metrics"
	local t
	for t in "wireguard_sent_bytes_total counter" "wireguard_received_bytes_total counter" \
		"wireguard_latest_handshake_seconds gauge" "tngwg_peers gauge" "tngwg_attestations_total counter" \
		"tngwg_as_request_duration_seconds histogram" "tngwg_handshakes_total counter" \
		"tngwg_peer_token_expiry_seconds gauge" "tngwg_dropped_packets_total counter" \
		"tngwg_held_packets_dropped_total counter"; do
		check "ops_metrics.type_${t%% *}" grep -qx "# TYPE $t" "$T_TMP/metrics"
	done
	local key labels
	key=$(show_field '.peers[0].public_key')
	labels="\\{interface=\"tngwg0\",public_key=\"${key//+/\\+}\",allowed_ips=\"$(mesh_ip 2)/32\"\\}"
	check ops_metrics.sent_bytes_match test "$(value_of "wireguard_sent_bytes_total$labels")" = "$(show_field '.peers[0].tx_bytes')"
	check ops_metrics.received_bytes_match test "$(value_of "wireguard_received_bytes_total$labels")" = "$(show_field '.peers[0].rx_bytes')"
	check ops_metrics.handshake_time_matches test "$(value_of "wireguard_latest_handshake_seconds$labels")" = "$(epoch "$(show_field '.peers[0].latest_handshake')")"
	check ops_metrics.peers_up test "$(value_of 'tngwg_peers\{state="up"\}')" = 1
	check ops_metrics.token_expiry_matches test "$(value_of "tngwg_peer_token_expiry_seconds\\{peer=\"$(mesh_ip 2)\"\\}")" = "$(epoch "$(show_field '.peers[0].token_expiry')")"
	check ops_metrics.attestation_counted test "$(value_of 'tngwg_attestations_total\{result="accepted",reason="accepted"\}')" -ge 1
	check ops_metrics.attested_handshake_counted test "$(value_of 'tngwg_handshakes_total\{kind="attested",result="ok",reason="ok"\}')" -ge 1
	check ops_metrics.wg_handshake_counted test "$(value_of 'tngwg_handshakes_total\{kind="wireguard",result="ok",reason="ok"\}')" -ge 1
	check ops_metrics.as_round_trips test "$(value_of 'tngwg_as_request_duration_seconds_count')" -ge 1
	check ops_metrics.no_route_drops_match test "$(value_of 'tngwg_dropped_packets_total\{reason="tx_no_route"\}')" = "$(show_field '.dropped.tx_no_route')"
}

# Malformed datagrams from the hub: counted the same in the metrics and in show.
drops_counted() {
	check ops_metrics.garbage_sent mesh_node_exec hub /usr/bin/python3 "$ROOT_DIR/tests/tools/wgcraft.py" \
		too_short_for_type --to "$(mesh_ip 1):51820" --count 3
	mesh_node_exec 1 curl -s "$URL/metrics" >"$T_TMP/metrics"
	mesh_node_exec 1 "$TNGWG" show --json tngwg0 >"$T_TMP/show.json"
	check ops_metrics.drops_counted test "$(value_of 'tngwg_dropped_packets_total\{reason="rx_invalid_length"\}')" -ge 3
	check ops_metrics.drops_match_show test "$(value_of 'tngwg_dropped_packets_total\{reason="rx_invalid_length"\}')" = "$(show_field '.dropped.rx_invalid_length')"
}

where_served() {
	check ops_metrics.off_by_default not mesh_node_exec 3 curl -s -m 3 "$URL/metrics"
	check ops_metrics.loopback_only not mesh_node_exec 2 curl -s -m 3 "http://$(mesh_ip 1):9586/metrics"
	mesh_node_exec 1 sh -c "exec 3<>/dev/tcp/127.0.0.1/9586; sleep 3" &
	local idle=$!
	check ops_metrics.idle_client_costs_nothing mesh_node_exec 1 timeout 2 "$TNGWG" show tngwg0
	check ops_metrics.scraped_meanwhile status_is 1 /livez 200
	wait "$idle"
}

not() { ! "$@"; }

if setup; then
	pass ops_metrics.setup
	health
	exposition
	drops_counted
	where_served
else
	fail ops_metrics.setup "the mesh did not come up"
fi
mesh_finish
