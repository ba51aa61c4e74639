#!/usr/bin/env bash
# The operators' command netns-scripts/mesh.sh: `up 2` brings up two nodes with the scenario
# config, `exec` reaches into a node (tng-wg show, traffic on 9001 through the overlay), and
# `down` leaves no namespace behind.
. "$(dirname "$0")/../lib/common.sh"
require_root
require_cmd socat jq
mesh="$ROOT_DIR/netns-scripts/mesh.sh"
export MESH_CLI_DIR=$T_TMP/cli MESH_CLI_PREFIX=$T_PREFIX-cli TNGWG
on_cleanup "'$mesh' down"

marker="tngwg-cli-$RANDOM$RANDOM"
up_again_refused() { ! "$mesh" up 2; }
namespaces() { ip netns list | grep -c "^$MESH_CLI_PREFIX-"; }
echo_reply() { printf '%s\n' "$marker" | "$mesh" exec 1 timeout 10 socat -t 3 - TCP4:10.77.0.2:9001,connect-timeout=3; }
reaches() { [ "$(echo_reply 2>/dev/null)" = "$marker" ]; }
node2_up() { "$mesh" exec 1 tng-wg show --json tngwg0 | jq -e '.peers[] | select(.address == "10.77.0.2" and .state == "up")'; }

check mesh_cli.up "$mesh" up 2
check mesh_cli.three_namespaces [ "$(namespaces)" = 3 ]
check mesh_cli.second_up_refused up_again_refused
check mesh_cli.show "$mesh" exec 1 tng-wg show tngwg0
"$mesh" exec 2 socat TCP4-LISTEN:9001,reuseaddr,fork EXEC:cat </dev/null >/dev/null 2>&1 &
track_pid $!
check mesh_cli.echo_9001 wait_for 30 reaches
check mesh_cli.peer_up node2_up
check mesh_cli.down "$mesh" down
check mesh_cli.nothing_left [ "$(namespaces)" = 0 ]
check mesh_cli.state_removed [ ! -e "$MESH_CLI_DIR" ]
finish
