#!/usr/bin/env bash
# The attestation roles of TNG's configs on one mesh of eight nodes:
#   nodes 1, 2  one-way RA (ingress verify, egress attest)
#   nodes 3, 4  no_ra (no evidence, still a keyed per-session handshake)
#   nodes 5, 6  trust domain A (policy "domain-a", svn 1)
#   nodes 7, 8  trust domain B (policy "domain-b", svn 2)
# The AS accepts svn 1 for domain-a and svn 2 for domain-b, so each domain's nodes reach each
# other and never the other domain's.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test

configs=$ROOT_DIR/netns-scripts/configs
marker="tngwg-roles-$RANDOM"

setup() {
	mesh_create 8 && mesh_start_as || return 1
	mesh_set_reference_values \
		'{"default": {"svn": ["1"]}, "domain-a": {"svn": ["1"]}, "domain-b": {"svn": ["2"]}}' || return 1
	mesh_start 1 "$configs/mesh-one-way-ra.json" --svn 1 &&
		mesh_start 2 "$configs/mesh-one-way-ra.json" --svn 1 &&
		mesh_start_node 3 "$configs/mesh-no-ra.json" &&
		mesh_start_node 4 "$configs/mesh-no-ra.json" &&
		mesh_start 5 "$configs/mesh-domain-a.json" --svn 1 &&
		mesh_start 6 "$configs/mesh-domain-a.json" --svn 1 &&
		mesh_start 7 "$configs/mesh-domain-b.json" --svn 2 &&
		mesh_start 8 "$configs/mesh-domain-b.json" --svn 2 || return 1
	local k
	for k in 1 2 3 4 5 6 7 8; do
		mesh_echo_server "$k" tcp 9001 || return 1
	done
}

attested() { [ "$(mesh_peer "$1" "$2" attested)" = true ]; }
not_attested() { [ "$(mesh_peer "$1" "$2" attested)" = false ]; }

if setup; then
	pass mesh_roles.setup
	check mesh_roles.one_way_1_to_2 mesh_reaches 1 2 tcp 9001 "$marker"
	check mesh_roles.one_way_2_to_1 mesh_reaches 2 1 tcp 9001 "$marker"
	check mesh_roles.no_ra_3_to_4 mesh_reaches 3 4 tcp 9001 "$marker"
	check mesh_roles.no_ra_4_to_3 mesh_reaches 4 3 tcp 9001 "$marker"
	check mesh_roles.domain_a_5_to_6 mesh_reaches 5 6 tcp 9001 "$marker"
	check mesh_roles.domain_b_7_to_8 mesh_reaches 7 8 tcp 9001 "$marker"
	check mesh_roles.one_way_up mesh_peer_is 1 2 up
	check mesh_roles.one_way_verified attested 1 2
	check mesh_roles.no_ra_up mesh_peer_is 3 4 up
	check mesh_roles.no_ra_without_evidence not_attested 3 4
	check mesh_roles.domain_a_to_b_refused mesh_refused 5 7 tcp 9001 "$marker"
	check mesh_roles.domain_b_to_a_refused mesh_refused 8 6 tcp 9001 "$marker"
	check mesh_roles.domain_a_rejects_b mesh_peer_error_has 5 7 not-affirming
	check mesh_roles.domain_b_rejects_a mesh_peer_error_has 8 6 not-affirming
	check mesh_roles.domain_a_no_tunnel_to_b wait_for 20 mesh_peer_is 5 7 failed
	check mesh_roles.domain_b_8_to_7 mesh_reaches 8 7 tcp 9001 "$marker"
	check mesh_roles.domain_a_6_to_5 mesh_reaches 6 5 tcp 9001 "$marker"
else
	fail mesh_roles.setup "the mesh did not come up"
fi
mesh_finish
