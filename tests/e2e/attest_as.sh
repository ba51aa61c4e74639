#!/usr/bin/env bash
# The verifier against the stand-in Trustee AS, with evidence from the stand-in AA through
# `tng-wg evidence`: a good token is accepted, and every way an appraisal can go wrong is rejected
# with its own reason (and nothing crashes).
source "$(dirname "$0")/../lib/common.sh"
require_root
require_cmd /usr/bin/python3 ip
/usr/bin/python3 -c 'import cryptography' 2>/dev/null || { echo "FAIL attest_as: needs python3-cryptography (run 'make deps')"; exit 1; }

AA_BIN="$ROOT_DIR/build/standin/aa-standin"
if [ ! -x "$AA_BIN" ]; then
  [ -x "$ROOT_DIR/tests/standin/build-aa.sh" ] || { echo "FAIL attest_as: tests/standin/build-aa.sh is missing, cannot build the stand-in AA"; exit 1; }
  "$ROOT_DIR/tests/standin/build-aa.sh" || { echo "FAIL attest_as: building the stand-in AA failed"; exit 1; }
fi
[ -x "$TNGWG" ] || { echo "FAIL attest_as: $TNGWG is not built"; exit 1; }

NS=$(ns_new as)
in_ns() { ip netns exec "$NS" "$@"; }

# Stand-in ASes, each with its own CA: a current one, one that only knows the flat pre-v0.14
# schema, and one serving HTTPS.
echo '{"default": {"svn": ["1"]}, "domain-b": {"svn": ["7"]}}' >"$T_TMP/rv.json"
AS=http://127.0.0.1:8080
AS_OLD=http://127.0.0.1:8081
bg "$NS" /usr/bin/python3 "$ROOT_DIR/tests/standin/as/as_standin.py" --listen 127.0.0.1:8080 \
  --state-dir "$T_TMP/as" --reference-values "$T_TMP/rv.json" 2>"$T_TMP/as.log"
bg "$NS" /usr/bin/python3 "$ROOT_DIR/tests/standin/as/as_standin.py" --listen 127.0.0.1:8081 \
  --state-dir "$T_TMP/as-old" --reference-values "$T_TMP/rv.json" --legacy-only 2>"$T_TMP/as-old.log"
bg "$NS" /usr/bin/python3 "$ROOT_DIR/tests/standin/as/as_standin.py" --listen 127.0.0.1:8443 \
  --state-dir "$T_TMP/as-tls" --reference-values "$T_TMP/rv.json" --tls 2>"$T_TMP/as-tls.log"
# Two stand-in AAs: a node whose svn the reference values accept, and one they do not.
bg "$NS" "$AA_BIN" --socket "$T_TMP/aa.sock" 2>"$T_TMP/aa.log"
bg "$NS" "$AA_BIN" --socket "$T_TMP/aa-svn2.sock" --svn 2 2>"$T_TMP/aa-svn2.log"
port_open() { in_ns bash -c ": >/dev/tcp/127.0.0.1/$1"; }
wait_for 20 port_open 8080 && wait_for 20 port_open 8081 && wait_for 20 port_open 8443 && wait_for 20 test -S "$T_TMP/aa.sock" &&
  wait_for 20 test -S "$T_TMP/aa-svn2.sock" || { fail setup "stand-in AS/AA did not start"; finish; }
CA="$T_TMP/as/ca.pem"
CA_OLD="$T_TMP/as-old/ca.pem"

RD='{"tng-wg":1,"role":"initiator","handshake_hash":"c2Vzc2lvbi1vbmU","wg_public_key":"a2V5LW9uZQ"}'
RD_OTHER='{"tng-wg":1,"role":"initiator","handshake_hash":"c2Vzc2lvbi10d28","wg_public_key":"a2V5LW9uZQ"}'

# evidence SOCKET RUNTIME_DATA OUT: the stand-in AA's evidence via `tng-wg evidence`; tee into OUT.tee
evidence() {
  local out=$3
  in_ns "$TNGWG" evidence --aa-addr "unix://$1" --runtime-data "$2" >"$out.txt" 2>"$out.err" || return 1
  sed -n 's/^tee: *//p' "$out.txt" | head -n1 >"$out.tee"
  sed -n 's/^evidence: //p' "$out.txt" | head -n1 | tr -d '\n' >"$out"
  [ -s "$out" ] && [ -s "$out.tee" ]
}

# expect NAME REASON [token request args...]: run `tng-wg token request` and check the verdict
expect() {
  local name=$1 reason=$2; shift 2
  local out="$T_TMP/$name.out" rc
  in_ns "$TNGWG" token request "$@" >"$out" 2>"$out.err"
  rc=$?
  local got
  got=$(sed -n 's/^verdict: \([a-z-]*\):.*/\1/p' "$out" | tail -n1)
  if [ "$rc" -ge 2 ]; then
    fail "$name" "token request exited $rc: $(tail -n3 "$out.err")"
  elif [ "$got" != "$reason" ]; then
    fail "$name" "verdict '$got', expected '$reason': $(grep '^verdict' "$out")"
  elif [ "$reason" = accepted ] && [ "$rc" -ne 0 ]; then
    fail "$name" "accepted but exit $rc"
  elif [ "$reason" != accepted ] && [ "$rc" -ne 1 ]; then
    fail "$name" "rejected but exit $rc"
  else
    pass "$name"
  fi
}

evidence "$T_TMP/aa.sock" "$RD" "$T_TMP/ev" || { fail evidence "tng-wg evidence failed: $(cat "$T_TMP/ev.err")"; finish; }
evidence "$T_TMP/aa-svn2.sock" "$RD" "$T_TMP/ev-svn2" || { fail evidence "tng-wg evidence (svn 2) failed"; finish; }
TEE=$(cat "$T_TMP/ev.tee")
base=(--tee "$TEE" --runtime-data "$RD" --timeout 10)

expect accepted accepted --as-addr "$AS" --evidence "$T_TMP/ev" "${base[@]}" --policy-ids default --trusted-certs "$CA"
sed -n 's/^token: //p' "$T_TMP/accepted.out" | tr -d '\n' >"$T_TMP/token.jwt"
# the output of `tng-wg evidence` serves as the evidence file too, and names the TEE
expect evidence_output_as_file accepted --as-addr "$AS" --evidence "$T_TMP/ev.txt" --runtime-data "$RD" --timeout 10 --policy-ids default --trusted-certs "$CA"
check token_in_output test -s "$T_TMP/token.jwt"

expect svn_contraindicated not-affirming --as-addr "$AS" --evidence "$T_TMP/ev-svn2" "${base[@]}" --policy-ids default --trusted-certs "$CA"
check svn_detail grep -q 'status.*contraindicated' "$T_TMP/svn_contraindicated.out"
expect policy_other_domain not-affirming --as-addr "$AS" --evidence "$T_TMP/ev" "${base[@]}" --policy-ids domain-b --trusted-certs "$CA"
expect policy_not_covered policy-mismatch --as-addr "$AS" --evidence "$T_TMP/ev" "${base[@]}" --policy-ids default domain-b --trusted-certs "$CA"
expect policy_unknown as-error --as-addr "$AS" --evidence "$T_TMP/ev" "${base[@]}" --policy-ids no-such-policy --trusted-certs "$CA"
check policy_unknown_detail grep -q 'no-such-policy' "$T_TMP/policy_unknown.out"
# Evidence bound to one session, presented for another: the AS's report-data check refuses it ...
expect other_session_at_as as-error --as-addr "$AS" --evidence "$T_TMP/ev" --tee "$TEE" --runtime-data "$RD_OTHER" --timeout 10 --policy-ids default --trusted-certs "$CA"
check other_session_detail grep -q 'REPORT_DATA is different' "$T_TMP/other_session_at_as.out"
# ... and a token issued for one session does not pass for another.
verify_token() { # NAME EXPECT_RC WHAT_FAILED args...
  local name=$1 want=$2 what=$3; shift 3
  "$TNGWG" token verify "$@" >"$T_TMP/$name.out" 2>&1
  local rc=$?
  if [ "$rc" -ne "$want" ]; then fail "$name" "token verify exit $rc, expected $want: $(tail -n2 "$T_TMP/$name.out")"
  elif [ -n "$what" ] && ! grep -q "^  FAIL $what" "$T_TMP/$name.out"; then fail "$name" "no failed '$what' check"
  else pass "$name"; fi
}
verify_token token_valid_offline 0 "" "$T_TMP/token.jwt" --trusted-certs "$CA" --policy-ids default --runtime-data "$RD"
verify_token token_other_session 1 runtime_data "$T_TMP/token.jwt" --trusted-certs "$CA" --policy-ids default --runtime-data "$RD_OTHER"
/usr/bin/python3 - "$T_TMP/token.jwt" "$T_TMP/tampered.jwt" <<'PY'
import sys
head, payload, sig = open(sys.argv[1]).read().strip().split(".")
sig = ("B" if sig[10] != "B" else "C").join([sig[:10], sig[11:]])
open(sys.argv[2], "w").write(".".join([head, payload, sig]))
PY
verify_token token_tampered 1 signature "$T_TMP/tampered.jwt" --trusted-certs "$CA"
verify_token token_untrusted_ca 1 key "$T_TMP/token.jwt" --trusted-certs "$CA_OLD"
exp=$(/usr/bin/python3 -c 'import sys,json,base64; p=open(sys.argv[1]).read().split(".")[1]; print(json.loads(base64.urlsafe_b64decode(p+"=="))["exp"])' "$T_TMP/token.jwt")
verify_token token_expired 1 exp "$T_TMP/token.jwt" --trusted-certs "$CA" --at $((exp + 61))
verify_token token_within_leeway 0 "" "$T_TMP/token.jwt" --trusted-certs "$CA" --at $((exp + 30))

expect untrusted_ca token-invalid --as-addr "$AS" --evidence "$T_TMP/ev" "${base[@]}" --policy-ids default --trusted-certs "$CA_OLD"

# Evidence of an extra device (the AA's additional evidence) is appraised as its own submod.
echo '{"sampledevice":{"svn":"2","report_data":"AAAA"}}' >"$T_TMP/additional.json"
expect additional_device accepted --as-addr "$AS" --evidence "$T_TMP/ev" --additional-evidence "$T_TMP/additional.json" "${base[@]}" --policy-ids default --trusted-certs "$CA"
token_has_gpu0() {
  sed -n 's/^token: //p' "$T_TMP/additional_device.out" | /usr/bin/python3 -c \
    'import sys,json,base64; p=sys.stdin.read().split(".")[1]; sys.exit(0 if "gpu0" in json.loads(base64.urlsafe_b64decode(p+"=="))["submods"] else 1)'
}
check additional_device_submod token_has_gpu0

# Trust anchors fetched from the AS: /certificate, else the JWKS.
expect anchors_from_certificate accepted --as-addr "$AS" --evidence "$T_TMP/ev" "${base[@]}" --policy-ids default
check anchors_certificate_fetched grep -q 'GET /certificate HTTP/1.1" 200' "$T_TMP/as.log"
check anchors_warning grep -q 'trusts the network path' "$T_TMP/anchors_from_certificate.out.err"
echo no-certificate >"$T_TMP/as/mode"
expect anchors_from_jwks accepted --as-addr "$AS" --evidence "$T_TMP/ev" "${base[@]}" --policy-ids default
check anchors_jwks_fetched grep -q 'GET /.well-known/jwks.json HTTP/1.1" 200' "$T_TMP/as.log"

# The legacy AS answers the current schema with 400 "missing field `tee`"; the client retries flat.
expect legacy_schema_fallback accepted --as-addr "$AS_OLD" --evidence "$T_TMP/ev" "${base[@]}" --policy-ids default --trusted-certs "$CA_OLD"
check legacy_saw_400 grep -q 'POST /attestation HTTP/1.1" 400' "$T_TMP/as-old.log"

# HTTPS: the server certificate checked against a configured CA file, not the system CAs.
CA_TLS="$T_TMP/as-tls/ca.pem"
expect https_ca_file accepted --as-addr https://127.0.0.1:8443 --ca-file "$CA_TLS" --evidence "$T_TMP/ev" "${base[@]}" --policy-ids default --trusted-certs "$CA_TLS"
expect https_system_cas as-unreachable --as-addr https://127.0.0.1:8443 --evidence "$T_TMP/ev" "${base[@]}" --policy-ids default --trusted-certs "$CA_TLS"

# Evidence must be base64url without padding, as Trustee decodes it.
padded_evidence_refused() {
  in_ns /usr/bin/python3 - "$AS" "$T_TMP/ev" "$RD" <<'PY'
import base64, json, sys, urllib.request, urllib.error
ev = base64.urlsafe_b64encode(open(sys.argv[2], "rb").read()).decode()
if not ev.endswith("="):
    ev = base64.urlsafe_b64encode(open(sys.argv[2], "rb").read() + b" ").decode()
body = {"verification_requests": [{"tee": "sample", "evidence": ev, "runtime_data": None,
        "init_data": None, "runtime_data_hash_algorithm": "sha384"}], "policy_ids": ["default"]}
req = urllib.request.Request(sys.argv[1] + "/attestation", json.dumps(body).encode(), {"Content-Type": "application/json"})
try:
    urllib.request.urlopen(req, timeout=10)
except urllib.error.HTTPError as e:
    sys.exit(0 if e.code == 500 and "Invalid padding" in e.read().decode() else 1)
sys.exit(1)
PY
}
check as_refuses_padded_evidence padded_evidence_refused

# The AS misbehaving.
echo 500 >"$T_TMP/as/mode"
expect as_500 as-error --as-addr "$AS" --evidence "$T_TMP/ev" "${base[@]}" --policy-ids default --trusted-certs "$CA"
check as_500_detail grep -q 'HTTP 500: An internal error occured' "$T_TMP/as_500.out"
echo oversized >"$T_TMP/as/mode"
expect as_oversized as-error --as-addr "$AS" --evidence "$T_TMP/ev" "${base[@]}" --policy-ids default --trusted-certs "$CA"
check as_oversized_detail grep -q 'exceeds' "$T_TMP/as_oversized.out"
echo garbage >"$T_TMP/as/mode"
expect as_malformed token-invalid --as-addr "$AS" --evidence "$T_TMP/ev" "${base[@]}" --policy-ids default --trusted-certs "$CA"
echo stall >"$T_TMP/as/mode"
expect as_stall as-timeout --as-addr "$AS" --evidence "$T_TMP/ev" --tee "$TEE" --runtime-data "$RD" --timeout 2 --policy-ids default --trusted-certs "$CA"
echo ok >"$T_TMP/as/mode"
expect as_unreachable as-unreachable --as-addr http://127.0.0.1:9 --evidence "$T_TMP/ev" "${base[@]}" --policy-ids default --trusted-certs "$CA"
expect as_recovered accepted --as-addr "$AS" --evidence "$T_TMP/ev" "${base[@]}" --policy-ids default --trusted-certs "$CA"

# tng-wg probe: this node's whole attestation path from its config, as a peer would meet it.
node_config() { # AA_SOCKET OUT
  cat >"$2" <<JSON
{"add_ingress": [{"netfilter": {"capture_dst": {"port": 9001}},
  "attest": {"aa_addr": "unix://$1"},
  "verify": {"as_addr": "$AS", "policy_ids": ["default"], "trusted_certs_paths": ["$CA"]}}]}
JSON
}
node_config "$T_TMP/aa.sock" "$T_TMP/node.json"
node_config "$T_TMP/aa-svn2.sock" "$T_TMP/node-svn2.json"
probe() { in_ns "$TNGWG" probe "$1" --timeout 10 >"$2" 2>&1; }
if probe "$T_TMP/node.json" "$T_TMP/probe.out" && grep -q 'would ACCEPT' "$T_TMP/probe.out"; then
  pass probe_trusted_node
else
  fail probe_trusted_node "$(tail -n5 "$T_TMP/probe.out")"
fi
probe "$T_TMP/node-svn2.json" "$T_TMP/probe-svn2.out"
rc=$?
if [ "$rc" -eq 1 ] && grep -q 'would REJECT: not-affirming' "$T_TMP/probe-svn2.out"; then
  pass probe_untrusted_node
else
  fail probe_untrusted_node "exit $rc: $(tail -n5 "$T_TMP/probe-svn2.out")"
fi

finish
