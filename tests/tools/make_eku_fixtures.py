#!/usr/bin/python3
"""Writes tests/data/eku/: a CA (ca.pem) and, for each kind of token-signing leaf it issues, the
leaf's JWK with its x5c chain (leaf-KIND.jwk.json), for the test of the leaf's key usage:
  none         no keyUsage and no extendedKeyUsage: accepted
  client-auth  extendedKeyUsage clientAuth, keyUsage digitalSignature: accepted
  server-auth  extendedKeyUsage serverAuth only: refused (an EKU must include clientAuth)
  cert-sign    keyUsage keyCertSign only: refused (a signing leaf needs digitalSignature)
Run with Debian's python3 (python3-cryptography); the certificates are valid 2026-2046."""
import base64
import datetime
import json
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "eku")
START, END = datetime.datetime(2026, 1, 1), datetime.datetime(2046, 1, 1)


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def key_usage(digital_signature=False, cert_sign=False):
    return x509.KeyUsage(digital_signature, False, False, False, False, cert_sign, cert_sign, False, False)


def b64url(n, size):
    return base64.urlsafe_b64encode(n.to_bytes(size, "big")).rstrip(b"=").decode()


def main():
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("eku-test-ca")).issuer_name(name("eku-test-ca"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(START).not_valid_after(END)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(key_usage(cert_sign=True), critical=True)
          .sign(ca_key, hashes.SHA256()))
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "ca.pem"), "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    kinds = {
        "none": [],
        "client-auth": [(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
                        (key_usage(digital_signature=True), True)],
        "server-auth": [(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)],
        "cert-sign": [(key_usage(cert_sign=True), True)],
    }
    for kind, extensions in kinds.items():
        key = ec.generate_private_key(ec.SECP256R1())
        b = (x509.CertificateBuilder().subject_name(name("token-signer-" + kind)).issuer_name(name("eku-test-ca"))
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(START).not_valid_after(END))
        for ext, critical in extensions:
            b = b.add_extension(ext, critical=critical)
        leaf = b.sign(ca_key, hashes.SHA256())
        nums = key.public_key().public_numbers()
        jwk = {"kty": "EC", "crv": "P-256", "alg": "ES256", "x": b64url(nums.x, 32), "y": b64url(nums.y, 32),
               "x5c": [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in (leaf, ca)]}
        with open(os.path.join(OUT, "leaf-%s.jwk.json" % kind), "w") as f:
            json.dump(jwk, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
