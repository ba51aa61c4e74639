#!/usr/bin/env bash
# 'tng-wg evidence' against the stand-in Attestation Agent over real ttrpc on unix sockets:
#   a round trip whose report_data is base64(sha384(JCS(runtime data))); --svn shows in the
#   evidence; the agent's INTERNAL error and a stalled agent fail clearly; a missing socket;
#   the agent restarted between two calls; malformed replies from a hostile server.
. "$(dirname "$0")/../lib/common.sh"
require_cmd go socat

standin="$ROOT_DIR/build/standin/aa-standin"
if [ ! -x "$standin" ]; then
	"$ROOT_DIR/tests/standin/build-aa.sh" || { echo "FAIL attest_aa: cannot build the stand-in AA"; exit 1; }
fi
[ -x "$TNGWG" ] || { echo "FAIL attest_aa: $TNGWG is not built"; exit 1; }
if [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; else py=python3; fi
require_cmd "$py"

# start_agent NAME ARGS...: a stand-in AA on $T_TMP/NAME.sock
start_agent() {
	local name=$1; shift
	"$standin" --socket "$T_TMP/$name.sock" "$@" 2>>"$T_TMP/$name.log" &
	track_pid $!
	eval "pid_$name=$!"
	wait_for 10 socat -u /dev/null "UNIX-CONNECT:$T_TMP/$name.sock"
}

# evidence ADDR JSON [ARGS...]: run tng-wg evidence, output in $T_TMP/out, errors in $T_TMP/err
evidence() {
	local addr=$1 json=$2; shift 2
	"$TNGWG" evidence --aa-addr "$addr" --runtime-data "$json" "$@" >"$T_TMP/out" 2>"$T_TMP/err"
}

evidence_field() { # FIELD: a field of the evidence JSON printed by the last run
	sed -n 's/^evidence: //p' "$T_TMP/out" | "$py" -c "import json,sys; print(json.load(sys.stdin)['$1'])" 2>/dev/null
}

# Expected report_data computed independently: for this ASCII input the RFC 8785 form is
# Python's sorted, separator-free dump.
runtime='{"b":1,"a":"test","c":{"d":"e"},"tng-wg":1}'
expected=$("$py" -c '
import base64, hashlib, json, sys
v = json.loads(sys.argv[1])
c = json.dumps(v, sort_keys=True, separators=(",", ":")).encode()
print(base64.b64encode(hashlib.sha384(c).digest()).decode())' "$runtime")

start_agent aa || fail agent_started "the stand-in did not create its socket"

if evidence "unix://$T_TMP/aa.sock" "$runtime" && grep -qx 'tee: sample' "$T_TMP/out"; then
	pass evidence_round_trip
else
	fail evidence_round_trip "$(cat "$T_TMP/out" "$T_TMP/err")"
fi
got=$(evidence_field report_data)
[ "$got" = "$expected" ] && pass report_data_is_sha384_of_jcs ||
	fail report_data_is_sha384_of_jcs "report_data '$got', expected '$expected'"
[ "$(evidence_field svn)" = 1 ] && pass default_svn || fail default_svn "$(cat "$T_TMP/out")"
# The same JSON with other key order and spacing hashes the same.
evidence "unix://$T_TMP/aa.sock" '{ "tng-wg": 1, "c": {"d": "e"}, "a": "test", "b": 1.0 }'
[ "$(evidence_field report_data)" = "$expected" ] && pass canonical_form_is_order_free ||
	fail canonical_form_is_order_free "$(cat "$T_TMP/out" "$T_TMP/err")"

start_agent aa2 --svn 2
evidence "unix://$T_TMP/aa2.sock" "$runtime"
[ "$(evidence_field svn)" = 2 ] && pass svn_2_in_evidence || fail svn_2_in_evidence "$(cat "$T_TMP/out" "$T_TMP/err")"

start_agent failing --fail
if ! evidence "unix://$T_TMP/failing.sock" "$runtime" &&
	grep -qF 'attestation agent: GetEvidence failed: INTERNAL (13): [ERROR:attestation-agent] AA-KBC get evidence failed' "$T_TMP/err"; then
	pass agent_error_reported
else
	fail agent_error_reported "$(cat "$T_TMP/out" "$T_TMP/err")"
fi

start_agent stalled --stall
if ! evidence "unix://$T_TMP/stalled.sock" "$runtime" --timeout 1 && grep -q 'timed out after 1 s' "$T_TMP/err"; then
	pass stalled_agent_hits_deadline
else
	fail stalled_agent_hits_deadline "$(cat "$T_TMP/out" "$T_TMP/err")"
fi

if ! evidence "unix://$T_TMP/absent.sock" "$runtime" && grep -q "cannot connect to $T_TMP/absent.sock: No such file or directory" "$T_TMP/err"; then
	pass missing_socket_reported
else
	fail missing_socket_reported "$(cat "$T_TMP/out" "$T_TMP/err")"
fi

if ! evidence "http://127.0.0.1:1" "$runtime" && grep -q "unsupported evidence address" "$T_TMP/err"; then
	pass bad_address_reported
else
	fail bad_address_reported "$(cat "$T_TMP/err")"
fi
if ! evidence "unix://$T_TMP/aa.sock" '{"a":' && grep -q "not valid JSON" "$T_TMP/err"; then
	pass bad_runtime_data_reported
else
	fail bad_runtime_data_reported "$(cat "$T_TMP/err")"
fi

# The agent restarted between two calls: the second call gets fresh evidence.
kill "$pid_aa"
wait "$pid_aa" 2>/dev/null
rm -f "$T_TMP/aa.sock"
evidence "unix://$T_TMP/aa.sock" "$runtime" && fail call_while_agent_down "succeeded without an agent"
start_agent aa --svn 3
if evidence "unix://$T_TMP/aa.sock" "$runtime" && [ "$(evidence_field svn)" = 3 ]; then
	pass agent_restart_between_calls
else
	fail agent_restart_between_calls "$(cat "$T_TMP/out" "$T_TMP/err")"
fi

# A hostile server: each connection gets one kind of bad reply to its first request.
cat >"$T_TMP/bad_server.py" <<'EOF'
import os, socket, struct, sys
path, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(4)
while True:
    c, _ = s.accept()
    hdr = c.recv(10, socket.MSG_WAITALL)
    if len(hdr) == 10:
        length, stream = struct.unpack(">II", hdr[:8])
        c.recv(length, socket.MSG_WAITALL)
        if mode == "oversize":
            c.sendall(struct.pack(">IIBB", (4 << 20) + 1, stream, 2, 0) + b"x" * 64)
        elif mode == "garbage":
            body = b"\x0f\xff\xff\xff"
            c.sendall(struct.pack(">IIBB", len(body), stream, 2, 0) + body)
        elif mode == "badinner":
            body = b"\x12\x03\x0a\x05a"  # payload whose GetEvidenceResponse is cut short
            c.sendall(struct.pack(">IIBB", len(body), stream, 2, 0) + body)
        elif mode == "truncated":
            c.sendall(struct.pack(">IIBB", 100, stream, 2, 0) + b"\x12\x10")
        elif mode == "wrongstream":
            body = b"\x12\x02\x0a\x00"
            c.sendall(struct.pack(">IIBB", len(body), stream + 2, 2, 0) + body)
            c.recv(1)  # keep the connection open until the client gives up
    c.close()
EOF
bad_server() { # MODE EXPECTED-ERROR-TEXT
	local mode=$1 want=$2
	"$py" "$T_TMP/bad_server.py" "$T_TMP/bad-$mode.sock" "$mode" &
	track_pid $!
	wait_for 10 socat -u /dev/null "UNIX-CONNECT:$T_TMP/bad-$mode.sock"
	evidence "unix://$T_TMP/bad-$mode.sock" "$runtime" --timeout 2
	local rc=$?
	if [ "$rc" = 1 ] && grep -qF "$want" "$T_TMP/err"; then
		pass "malformed_reply_$mode"
	else
		fail "malformed_reply_$mode" "exit $rc: $(cat "$T_TMP/err")"
	fi
}
bad_server oversize "frame of 4194305 bytes exceeds the limit of 4194304"
bad_server garbage "malformed ttrpc response"
bad_server badinner "GetEvidence failed: malformed response"
bad_server truncated "connection closed by the server"
bad_server wrongstream "timed out after 2 s"

finish
