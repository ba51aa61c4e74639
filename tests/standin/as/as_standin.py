#!/usr/bin/python3
"""Stand-in Trustee Attestation Service for tests (run with /usr/bin/python3: python3-cryptography).

Speaks the REST API of Trustee's restful-as: POST /attestation (current schema, or only the flat
pre-v0.14 schema with --legacy-only), GET /certificate (the openanolis fork's PEM chain) and
GET /.well-known/jwks.json. Appraises `sample` evidence as Trustee's sample verifier does
(report_data must equal hash(JCS(structured runtime data)) exactly) and reference values per
policy id from a JSON file re-read on every request, e.g. {"default": {"svn": ["1"]}}. Answers
with an ES256 EAR token whose header carries the signing jwk and x5c (leaf, CA).

--tls serves HTTPS with a server certificate from the same test CA. Test switches: --fail-status CODE, --stall, and at run time the file STATE_DIR/mode holding one of
ok | 500 | stall | oversized | garbage | no-certificate.
"""
import argparse
import base64
import datetime
import hashlib
import http.server
import ipaddress
import json
import os
import ssl
import sys
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

EAR_PROFILE = "tag:github.com,2024:confidential-containers/Trustee"
SUPPORTED_TEES = {"az-snp-vtpm", "sgx", "snp", "tdx", "cca", "csv", "sample", "sampledevice",
                  "az-tdx-vtpm", "se", "hygondcu"}
HASHES = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


class AppraisalError(Exception):
    """Becomes Trustee's 500 'An internal error occured' reply."""


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_strict_decode(text):
    """Trustee decodes evidence with URL_SAFE_NO_PAD: padding and '+/' are errors."""
    for i, ch in enumerate(text):
        if ch == "=":
            raise AppraisalError(f"base64 decode evidence\n2: Invalid padding at offset {i}")
        if not (ch.isalnum() and ch.isascii()) and ch not in "-_":
            raise AppraisalError(f"base64 decode evidence\n2: Invalid symbol {ord(ch)}, offset {i}.")
    if len(text) % 4 == 1:
        raise AppraisalError("base64 decode evidence\n2: Invalid input length")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jcs(value):
    """RFC 8785 for the values tests use (strings, integers, objects, arrays, literals)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def load_keys(state_dir):
    """The signer of an earlier run in state_dir: an AS keeps its signing identity across restarts."""
    try:
        with open(os.path.join(state_dir, "signer-key.pem"), "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
        with open(os.path.join(state_dir, "signer.pem"), "rb") as f:
            blocks = f.read().split(b"-----END CERTIFICATE-----")
        chain = [x509.load_pem_x509_certificate(b + b"-----END CERTIFICATE-----\n")
                 for b in blocks if b.strip()]
    except (OSError, ValueError):
        return None
    return key, chain


def make_keys(state_dir):
    kept = load_keys(state_dir)
    if kept:
        return kept
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tng-wg test AS CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tng-wg test AS signer")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
    with open(os.path.join(state_dir, "signer.pem"), "wb") as f:
        f.write(pem(leaf) + pem(ca))
    with open(os.path.join(state_dir, "signer-key.pem"), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(os.path.join(state_dir, "ca.pem"), "wb") as f:
        f.write(pem(ca))
    write_tls_identity(state_dir, ca_key, ca_name, now)
    return key, [leaf, ca]


def write_tls_identity(state_dir, ca_key, ca_name, now):
    """tls.pem / tls-key.pem: an HTTPS server certificate for 127.0.0.1 and localhost, from the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    with open(os.path.join(state_dir, "tls.pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(os.path.join(state_dir, "tls-key.pem"), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


class Signer:
    def __init__(self, key, chain):
        self.key = key
        self.chain = chain
        nums = key.public_key().public_numbers()
        self.jwk = {
            "kty": "EC", "crv": "P-256", "alg": "ES256",
            "x": b64url(nums.x.to_bytes(32, "big")), "y": b64url(nums.y.to_bytes(32, "big")),
            # standard padded base64, as Trustee v0.21+ writes it
            "x5c": [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain],
        }

    def sign(self, payload):
        header = {"typ": "JWT", "alg": "ES256", "jwk": self.jwk}
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(payload, separators=(",", ":")).encode()))
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def pem_chain(self):
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)


def expected_report_data(req):
    rd = req.get("runtime_data")
    if rd is None:
        return None, None
    alg = str(req.get("runtime_data_hash_algorithm", "sha384")).lower()
    if alg not in HASHES:
        raise AppraisalError(f"unsupported hash algorithm {alg}")
    if "structured" in rd:
        return HASHES[alg](jcs(rd["structured"])).digest(), rd["structured"]
    if "raw" in rd:
        return b64url_strict_decode(rd["raw"]), None
    raise AppraisalError("runtime_data must be raw or structured")


def appraise_sample(evidence, expected):
    try:
        quote = json.loads(evidence)
        report_data = base64.b64decode(quote["report_data"], validate=True)
    except (ValueError, KeyError, TypeError) as e:
        raise AppraisalError(f"failed to parse evidence as JSON: {e}")
    if expected is not None and report_data != expected:
        raise AppraisalError("REPORT_DATA is different from that in Sample Quote")
    claims = {"svn": quote.get("svn"), "report_data": quote["report_data"], "launch_digest": "abcde",
              "platform_version": {"major": 1, "minor": 4}, "debug": False}
    return claims


def status_of(vector):
    worst = max(abs(v) for v in vector.values())
    if worst <= 1:
        return "none"
    return "affirming" if worst < 32 else "warning" if worst < 96 else "contraindicated"


class Service:
    def __init__(self, args, signer):
        self.args = args
        self.signer = signer

    def mode(self):
        if self.args.stall:
            return "stall"
        if self.args.fail_status:
            return str(self.args.fail_status)
        try:
            with open(os.path.join(self.args.state_dir, "mode")) as f:
                return f.read().strip() or "ok"
        except FileNotFoundError:
            return "ok"

    def reference_values(self, policy_id):
        with open(self.args.reference_values) as f:
            rvs = json.load(f)
        if policy_id not in rvs:
            raise AppraisalError(f"Policy `{policy_id}_cpu` not found")
        return rvs[policy_id]

    def requests_of(self, body):
        """(verification requests, policy ids) or a 400 text as Trustee's JSON extractor says it."""
        if self.args.legacy_only:
            if "tee" not in body:
                return None, "Json deserialize error: missing field `tee` at line 1 column 2"
            requests = [body]
        else:
            if "verification_requests" not in body:
                return None, "Json deserialize error: missing field `verification_requests` at line 1 column 2"
            requests = body["verification_requests"]
        if "policy_ids" not in body:
            return None, "Json deserialize error: missing field `policy_ids` at line 1 column 2"
        return (requests, body["policy_ids"] or ["default"]), None

    def attest(self, requests, policy_ids):
        if not requests:
            raise AppraisalError("No verification requests provided.")
        policy_id = policy_ids[0]
        rv = self.reference_values(policy_id)
        submods = {}
        for index, req in enumerate(requests):
            tee = req.get("tee")
            if tee not in SUPPORTED_TEES:
                raise AppraisalError(f"tee `{tee} not supported`")
            if tee not in ("sample", "sampledevice"):
                raise AppraisalError(f"the stand-in AS verifies only sample evidence, not {tee}")
            evidence = b64url_strict_decode(req.get("evidence", ""))
            expected, structured = expected_report_data(req)
            claims = appraise_sample(evidence, expected)
            cls = "cpu" if tee == "sample" else "gpu"
            vector = {"configuration": 2, "executables": 3,
                      "hardware": 2 if cls == "gpu" or claims["svn"] in rv.get("svn", []) else 97}
            n = sum(1 for k in submods if k.startswith(cls))
            submods[f"{cls}{n}"] = {
                "ear.status": status_of(vector),
                "ear.trustworthiness-vector": vector,
                "ear.appraisal-policy-id": policy_id,
                "ear.veraison.annotated-evidence": {
                    tee: claims, "report_data": claims["report_data"],
                    "runtime_data_claims": structured, "init_data": None, "init_data_claims": None},
                "ear.trustee.identifiers": {"validated": {}},
            }
        now = int(time.time())
        payload = {
            "eat_profile": EAR_PROFILE, "iat": now, "exp": now + self.args.token_lifetime,
            "iss": "CoCo-Attestation-Service",
            "ear.verifier-id": {"developer": "https://confidentialcontainers.org",
                                "build": "attestation-service stand-in"},
            "submods": submods,
        }
        return self.signer.sign(payload)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    service = None
    stop = threading.Event()

    def log_message(self, fmt, *args):
        sys.stderr.write("as-standin: " + (fmt % args) + "\n")

    def reply(self, status, body, content_type=None):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def misbehave(self, mode):
        """Serve a test mode other than ok; True when it answered (or stalled)."""
        if mode == "stall":
            self.stop.wait(3600)
            self.close_connection = True
            return True
        if mode == "oversized":
            self.reply(200, b"e" * (2 << 20))
            return True
        if mode == "garbage":
            self.reply(200, "this is not a token")
            return True
        if mode.isdigit():
            self.reply(int(mode), "An internal error occured: \n0: the stand-in AS was told to fail")
            return True
        return False

    def do_GET(self):
        mode = self.service.mode()
        if self.path == "/certificate" and mode != "no-certificate":
            self.reply(200, self.service.signer.pem_chain(), "application/x-pem-file")
        elif self.path == "/.well-known/jwks.json":
            self.reply(200, json.dumps({"keys": [self.service.signer.jwk]}), "application/json")
        else:
            self.reply(404, "")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path != "/attestation":
            self.reply(404, "")
            return
        if self.misbehave(self.service.mode()):
            return
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
        except ValueError as e:
            self.reply(400, f"Json deserialize error: {e}")
            return
        parsed, bad_shape = self.service.requests_of(body)
        if bad_shape:
            self.reply(400, bad_shape)
            return
        try:
            token = self.service.attest(*parsed)
        except AppraisalError as e:
            self.reply(500, f"An internal error occured: \n0: attestation report evaluate\n1: {e}")
            return
        self.reply(200, token)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", required=True, help="HOST:PORT")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--reference-values", required=True)
    ap.add_argument("--token-lifetime", type=int, default=300)
    ap.add_argument("--legacy-only", action="store_true", help="accept only the flat pre-v0.14 schema")
    ap.add_argument("--fail-status", type=int)
    ap.add_argument("--stall", action="store_true")
    ap.add_argument("--tls", action="store_true", help="serve HTTPS with STATE_DIR/tls.pem (issued by ca.pem)")
    args = ap.parse_args()
    os.makedirs(args.state_dir, exist_ok=True)
    Handler.service = Service(args, Signer(*make_keys(args.state_dir)))
    host, port = args.listen.rsplit(":", 1)
    server = http.server.ThreadingHTTPServer((host.strip("[]"), int(port)), Handler)
    server.daemon_threads = True
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(args.state_dir, "tls.pem"), os.path.join(args.state_dir, "tls-key.pem"))
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    sys.stderr.write(f"as-standin: listening on {args.listen}\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        Handler.stop.set()


if __name__ == "__main__":
    main()
