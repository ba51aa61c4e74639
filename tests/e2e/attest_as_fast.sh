#!/usr/bin/env bash
# The benchmark's fast stand-in AS (tests/standin/as-fast) issues what tng-wg's verifier takes
# from the Python stand-in: tokens for sample evidence from the stand-in AA are accepted online
# and by `tng-wg token verify`, under pinned or fetched anchors; the reference values, the
# report-data binding (its JCS form agrees with tng-wg's, also for escapes, non-ASCII keys and
# numbers) and a signing identity made by the Python stand-in are honoured.
source "$(dirname "$0")/../lib/common.sh"
require_root
require_cmd /usr/bin/python3 ip go
/usr/bin/python3 -c 'import cryptography' 2>/dev/null || { echo "FAIL attest_as_fast: needs python3-cryptography (run 'make deps')"; exit 1; }
[ -x "$TNGWG" ] || { echo "FAIL attest_as_fast: $TNGWG is not built"; exit 1; }
"$ROOT_DIR/tests/standin/build.sh" aa && "$ROOT_DIR/tests/standin/build.sh" as-fast ||
  { echo "FAIL attest_as_fast: building the stand-ins failed"; exit 1; }

NS=$(ns_new asfast)
in_ns() { ip netns exec "$NS" "$@"; }
port_open() { in_ns bash -c ": >/dev/tcp/127.0.0.1/$1"; }
echo '{"default": {"svn": ["1"]}, "domain-b": {"svn": ["7"]}}' >"$T_TMP/rv.json"
AS=http://127.0.0.1:8080
bg "$NS" "$ROOT_DIR/build/standin/as-fast" --listen 127.0.0.1:8080 --state-dir "$T_TMP/as" \
  --reference-values "$T_TMP/rv.json" 2>"$T_TMP/as.log"
bg "$NS" "$ROOT_DIR/build/standin/aa-standin" --socket "$T_TMP/aa.sock" 2>"$T_TMP/aa.log"
bg "$NS" "$ROOT_DIR/build/standin/aa-standin" --socket "$T_TMP/aa-svn2.sock" --svn 2 2>"$T_TMP/aa-svn2.log"
wait_for 20 port_open 8080 && wait_for 20 test -S "$T_TMP/aa.sock" && wait_for 20 test -S "$T_TMP/aa-svn2.sock" ||
  { fail setup "the stand-ins did not start: $(tail -n3 "$T_TMP/as.log")"; finish; }
CA="$T_TMP/as/ca.pem"

RD='{"tng-wg":1,"role":"initiator","handshake_hash":"c2Vzc2lvbi1vbmU","wg_public_key":"a2V5LW9uZQ"}'
RD_OTHER='{"tng-wg":1,"role":"initiator","handshake_hash":"c2Vzc2lvbi10d28","wg_public_key":"a2V5LW9uZQ"}'
RD_ODD='{"z":"\u00e9\u2028<>&\n\u0001\"","é":[1.5,1e21,1e-7,-0,100,0.000001],"e\ud83d\ude00":{"b":true,"a":null},"a":1}'

# evidence SOCKET RUNTIME_DATA OUT: the stand-in AA's evidence through `tng-wg evidence`
evidence() { in_ns "$TNGWG" evidence --aa-addr "unix://$1" --runtime-data "$2" >"$3" 2>"$3.err"; }

# request NAME VERDICT EVIDENCE RUNTIME_DATA [args...]: `tng-wg token request` gives VERDICT
request() {
  local name=$1 want=$2 ev=$3 rd=$4; shift 4
  in_ns "$TNGWG" token request --as-addr "$AS" --evidence "$ev" --runtime-data "$rd" --timeout 10 "$@" \
    >"$T_TMP/$name.out" 2>"$T_TMP/$name.err"
  local got
  got=$(sed -n 's/^verdict: \([a-z-]*\):.*/\1/p' "$T_TMP/$name.out" | tail -n1)
  if [ "$got" = "$want" ]; then pass "$name"; else fail "$name" "verdict '$got', expected '$want': $(tail -n3 "$T_TMP/$name.out" "$T_TMP/$name.err")"; fi
}

evidence "$T_TMP/aa.sock" "$RD" "$T_TMP/ev" && evidence "$T_TMP/aa-svn2.sock" "$RD" "$T_TMP/ev-svn2" &&
  evidence "$T_TMP/aa.sock" "$RD_ODD" "$T_TMP/ev-odd" || { fail evidence "tng-wg evidence failed: $(cat "$T_TMP"/ev*.err)"; finish; }

request accepted accepted "$T_TMP/ev" "$RD" --policy-ids default --trusted-certs "$CA"
sed -n 's/^token: //p' "$T_TMP/accepted.out" | tr -d '\n' >"$T_TMP/token.jwt"
if "$TNGWG" token verify "$T_TMP/token.jwt" --trusted-certs "$CA" --policy-ids default --runtime-data "$RD" >"$T_TMP/verify.out" 2>&1; then
  pass token_verify_offline
else
  fail token_verify_offline "$(grep FAIL "$T_TMP/verify.out")"
fi
request anchors_fetched accepted "$T_TMP/ev" "$RD" --policy-ids default
request svn_contraindicated not-affirming "$T_TMP/ev-svn2" "$RD" --policy-ids default --trusted-certs "$CA"
request other_domain not-affirming "$T_TMP/ev" "$RD" --policy-ids domain-b --trusted-certs "$CA"
request policy_unknown as-error "$T_TMP/ev" "$RD" --policy-ids no-such-policy --trusted-certs "$CA"
request other_session as-error "$T_TMP/ev" "$RD_OTHER" --policy-ids default --trusted-certs "$CA"
check other_session_detail grep -q 'REPORT_DATA is different' "$T_TMP/other_session.out"
# The AS hashes its own JCS form of the runtime data: it must be the one tng-wg bound.
request jcs_agrees accepted "$T_TMP/ev-odd" "$RD_ODD" --policy-ids default --trusted-certs "$CA"

# A signing identity the Python stand-in made is taken over, so either AS serves one state directory.
kill "${T_PIDS[0]}"
wait "${T_PIDS[0]}" 2>/dev/null
in_ns /usr/bin/python3 "$ROOT_DIR/tests/standin/as/as_standin.py" --listen 127.0.0.1:8081 \
  --state-dir "$T_TMP/as-py" --reference-values "$T_TMP/rv.json" 2>"$T_TMP/as-py.log" &
track_pid $!
wait_for 20 test -f "$T_TMP/as-py/ca.pem" || { fail python_identity "the Python stand-in made no identity"; finish; }
cp "$T_TMP/as-py/ca.pem" "$T_TMP/python-ca.pem"
bg "$NS" "$ROOT_DIR/build/standin/as-fast" --listen 127.0.0.1:8080 --state-dir "$T_TMP/as-py" \
  --reference-values "$T_TMP/rv.json" 2>>"$T_TMP/as.log"
wait_for 20 port_open 8080 || { fail python_identity "as-fast did not restart"; finish; }
request python_identity accepted "$T_TMP/ev" "$RD" --policy-ids default --trusted-certs "$T_TMP/python-ca.pem"
finish
