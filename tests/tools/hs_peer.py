#!/usr/bin/python3
"""An independent peer for the attested handshake tng-wg/1, written from the protocol description
in handshake/session.h with Python's hashlib/hmac and python3-cryptography, to check the C
implementation against a second one on the wire.

It plays its own owner the way tests/tools/hs_node.c does: its evidence is
"sample-evidence:" + the runtime data JSON it must bind, and it accepts the peer's evidence only
when it embeds exactly the JSON this side computes for the peer. With --sample-quote it speaks
for a real node instead: its evidence is the sample quote the stand-in AA makes (report_data the
SHA-384 of the runtime data's canonical JSON), which the stand-in AS appraises, and it checks the
peer's quote binds what this side computes. It prints the same lines:
  node own_key=<hex>
  done psk=<hex> peer_key=<hex> peer_port=<n> initiated=<0|1> attested=<0|1>
  failed reason=<name> by_peer=<0|1> detail=<text>
  saved tee=<name> evidence_bytes=<n>        (--save-evidence)

  hs_peer.py (--connect ADDR | --listen ADDR) --port N [--attest] [--require] [--wg-port N]
             [--sample-quote] [--bind-other-key] [--wg-key BASE64] [--empty-evidence]
             [--save-evidence FILE | --send-evidence FILE | --replay PCAP]

--bind-other-key binds a different WireGuard key into the evidence than the one it announces;
--wg-key announces the given WireGuard public key (someone else's) instead of a random one;
--empty-evidence sends an evidence message without evidence although its hello says it attests.
--save-evidence keeps the peer's evidence message in FILE, sends none of its own and stops;
--send-evidence sends that saved message as its own (evidence relayed from another session).
--replay sends --connect's node what the initiator of the first TCP connection to that address
and port in a tcpdump capture PCAP sent: message 1, then after the node's reply the rest.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import socket
import struct
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

REASONS = ["ok", "protocol_error", "version_mismatch", "attestation_required",
           "evidence_unavailable", "verification_failed", "verifier_unavailable", "timeout",
           "busy", "rate_limited", "connect_failed", "superseded"]
PREFIX = b"sample-evidence:"
MAX_CHUNK = 65535 - 16 - 1


class Failed(Exception):
    def __init__(self, reason, by_peer, detail):
        super().__init__(detail)
        self.reason, self.by_peer, self.detail = reason, by_peer, detail


def blake2b(data):
    return hashlib.blake2b(data, digest_size=64).digest()


def hmac_blake2b(key, data):
    return hmac.new(key, data, hashlib.blake2b).digest()


def hkdf(ck, ikm):
    temp = hmac_blake2b(ck, ikm)
    out1 = hmac_blake2b(temp, b"\x01")
    return out1, hmac_blake2b(temp, out1 + b"\x02")


def nonce(n):
    return b"\x00" * 4 + struct.pack("<Q", n)


def public_bytes(key):
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def dh(key, public):
    return key.exchange(X25519PublicKey.from_public_bytes(public))


class Symmetric:
    def __init__(self):
        self.h = b"Noise_XX_25519_ChaChaPoly_BLAKE2b".ljust(64, b"\x00")
        self.ck = self.h
        self.k = None
        self.n = 0
        self.mix_hash(b"tng-wg/1")

    def mix_hash(self, data):
        self.h = blake2b(self.h + data)

    def mix_key(self, ikm):
        self.ck, temp = hkdf(self.ck, ikm)
        self.k, self.n = temp[:32], 0

    def encrypt_and_hash(self, plaintext):
        if self.k is None:
            out = plaintext
        else:
            out = ChaCha20Poly1305(self.k).encrypt(nonce(self.n), plaintext, self.h)
            self.n += 1
        self.mix_hash(out)
        return out

    def decrypt_and_hash(self, data):
        if self.k is None:
            out = data
        else:
            try:
                out = ChaCha20Poly1305(self.k).decrypt(nonce(self.n), data, self.h)
            except InvalidTag:
                raise Failed("protocol_error", False, "handshake message rejected") from None
            self.n += 1
        self.mix_hash(data)
        return out


class Cipher:
    def __init__(self, key):
        self.aead, self.n = ChaCha20Poly1305(key), 0

    def encrypt(self, data):
        out = self.aead.encrypt(nonce(self.n), data, b"")
        self.n += 1
        return out

    def decrypt(self, data):
        try:
            out = self.aead.decrypt(nonce(self.n), data, b"")
        except InvalidTag:
            raise Failed("protocol_error", False, "transport message rejected") from None
        self.n += 1
        return out


class Stream:
    def __init__(self, sock):
        self.sock = sock

    def read_exact(self, n):
        buf = b""
        while len(buf) < n:
            more = self.sock.recv(n - len(buf))
            if not more:
                raise Failed("protocol_error", False, "connection closed by the peer")
            buf += more
        return buf

    def read_frame(self):
        (length,) = struct.unpack(">I", self.read_exact(4))
        if length == 0 or length > 65535:
            raise Failed("protocol_error", False, "bad frame length %d" % length)
        frame = self.read_exact(length)
        if length == 1:  # an abort frame
            reason = REASONS[frame[0]] if frame[0] < len(REASONS) else "protocol_error"
            raise Failed(reason, True, "peer aborted the handshake")
        return frame

    def write_frame(self, payload):
        self.sock.sendall(struct.pack(">I", len(payload)) + payload)


def hello(args):
    return bytes([1, (1 if args.attest else 0) | (2 if args.require else 0)])


def parse_hello(payload):
    if len(payload) < 1 or payload[0] != 1:
        raise Failed("version_mismatch", False, "peer speaks another version")
    if len(payload) != 2:
        raise Failed("protocol_error", False, "malformed hello")
    return {"attest": bool(payload[1] & 1), "require": bool(payload[1] & 2)}


def xx_initiator(stream, s, args):
    sym, e = Symmetric(), X25519PrivateKey.generate()
    e_pub = public_bytes(e)
    sym.mix_hash(e_pub)
    stream.write_frame(e_pub + sym.encrypt_and_hash(hello(args)))
    msg = stream.read_frame()
    if len(msg) < 32 + 48 + 16:
        raise Failed("protocol_error", False, "short message 2")
    re = msg[:32]
    sym.mix_hash(re)
    sym.mix_key(dh(e, re))
    rs = sym.decrypt_and_hash(msg[32:80])
    sym.mix_key(dh(e, rs))
    peer = parse_hello(sym.decrypt_and_hash(msg[80:]))
    out = sym.encrypt_and_hash(public_bytes(s))
    sym.mix_key(dh(s, re))
    stream.write_frame(out + sym.encrypt_and_hash(b""))
    return sym, peer


def xx_responder(stream, s, args):
    sym, e = Symmetric(), X25519PrivateKey.generate()
    msg = stream.read_frame()
    if len(msg) < 32:
        raise Failed("protocol_error", False, "short message 1")
    re = msg[:32]
    sym.mix_hash(re)
    peer = parse_hello(sym.decrypt_and_hash(msg[32:]))
    e_pub = public_bytes(e)
    sym.mix_hash(e_pub)
    sym.mix_key(dh(e, re))
    out = e_pub + sym.encrypt_and_hash(public_bytes(s))
    sym.mix_key(dh(s, re))
    stream.write_frame(out + sym.encrypt_and_hash(hello(args)))
    msg = stream.read_frame()
    if len(msg) != 48 + 16:
        raise Failed("protocol_error", False, "bad message 3")
    rs = sym.decrypt_and_hash(msg[:48])
    sym.mix_key(dh(e, rs))
    if sym.decrypt_and_hash(msg[48:]) != b"":
        raise Failed("protocol_error", False, "payload in message 3")
    return sym, peer


def runtime_data(role, h, key):
    return json.dumps({"tng-wg": 1, "role": role, "handshake_hash": base64.b64encode(h).decode(),
                       "wg_public_key": base64.b64encode(key).decode()}, separators=(",", ":"))


def quote_digest(rd):
    """What a sample quote's report_data holds: SHA-384 of the RFC 8785 form of runtime data rd."""
    return hashlib.sha384(json.dumps(json.loads(rd), sort_keys=True,
                                     separators=(",", ":")).encode()).digest()


def own_evidence(args, rd):
    if args.sample_quote:
        return json.dumps({"svn": "1",
                           "report_data": base64.b64encode(quote_digest(rd)).decode()}).encode()
    return PREFIX + rd.encode()


def binds(args, evidence, rd):
    if not args.sample_quote:
        return evidence == PREFIX + rd.encode()
    try:
        return base64.b64decode(json.loads(evidence)["report_data"]) == quote_digest(rd)
    except (ValueError, KeyError, TypeError):
        return False


class Channel:
    def __init__(self, stream, send, recv):
        self.stream, self.send, self.recv = stream, send, recv

    def write(self, message):
        for off in range(0, max(len(message), 1), MAX_CHUNK):
            piece = message[off:off + MAX_CHUNK]
            more = 1 if off + MAX_CHUNK < len(message) else 0
            self.stream.write_frame(self.send.encrypt(bytes([more]) + piece))

    def read(self):
        message = b""
        while True:
            chunk = self.recv.decrypt(self.stream.read_frame())
            if not chunk or chunk[0] > 1:
                raise Failed("protocol_error", False, "malformed chunk")
            message += chunk[1:]
            if chunk[0] == 0:
                return message

    def verdict(self, reason, detail=""):
        text = detail.encode()[:255]
        self.write(bytes([2, REASONS.index(reason)]) + struct.pack(">H", len(text)) + text)


def evidence_message(tee, evidence, key, port):
    return (bytes([1, len(tee)]) + tee + struct.pack(">I", len(evidence)) + evidence +
            struct.pack(">I", 0) + key + struct.pack(">H", port))


def parse_evidence(msg):
    tee_len = msg[1]
    tee = msg[2:2 + tee_len]
    off = 2 + tee_len
    (ev_len,) = struct.unpack(">I", msg[off:off + 4])
    evidence = msg[off + 4:off + 4 + ev_len]
    off += 4 + ev_len
    (add_len,) = struct.unpack(">I", msg[off:off + 4])
    off += 4 + add_len
    if len(evidence) != ev_len or len(msg) != off + 34:
        raise Failed("protocol_error", False, "malformed evidence message")
    return tee, evidence, msg[off:off + 32], struct.unpack(">H", msg[off + 32:off + 34])[0]


def attested_exchange(channel, h, ck, peer, initiator, args, wg_key):
    role, peer_role = ("initiator", "responder") if initiator else ("responder", "initiator")
    if args.require and not peer["attest"]:
        channel.verdict("attestation_required", "peer will not attest")
        raise Failed("attestation_required", False, "peer will not attest")
    if args.send_evidence:
        with open(args.send_evidence, "rb") as f:
            channel.write(f.read())
    elif args.attest and not args.empty_evidence:
        bound_key = os.urandom(32) if args.bind_other_key else wg_key
        evidence = own_evidence(args, runtime_data(role, h, bound_key))
        channel.write(evidence_message(b"sample", evidence, wg_key, args.wg_port))
    else:
        channel.write(evidence_message(b"", b"", wg_key, args.wg_port))
    sent_accept = peer_accepted = attested = False
    result = None
    while not (sent_accept and peer_accepted):
        msg = channel.read()
        if msg[:1] == b"\x01" and result is None:
            tee, evidence, key, port = parse_evidence(msg)
            result = (key, port)
            if not args.require:
                channel.verdict("ok")
                sent_accept = True
                continue
            if not tee or not evidence:
                channel.verdict("attestation_required", "peer sent no evidence")
                raise Failed("attestation_required", False, "peer sent no evidence")
            if not binds(args, evidence, runtime_data(peer_role, h, key)):
                channel.verdict("verification_failed", "runtime data not bound")
                raise Failed("verification_failed", False, "runtime data not bound")
            channel.verdict("ok")
            sent_accept = attested = True
        elif msg[:1] == b"\x02" and len(msg) >= 4:
            reason = REASONS[msg[1]] if msg[1] < len(REASONS) else "protocol_error"
            if reason != "ok":
                raise Failed(reason, True, msg[4:].decode(errors="replace"))
            peer_accepted = True
        else:
            raise Failed("protocol_error", False, "unexpected message")
    psk = hmac_blake2b(hmac_blake2b(ck, b"tng-wg/1 psk"), b"\x01")[:32]
    return psk, result, attested


def initiator_frames(path, addr, port):
    """The frames the initiator of the first TCP connection to addr:port in a pcap file (Ethernet,
    IPv4) sent, in order."""
    with open(path, "rb") as f:
        data = f.read()
    order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    server = socket.inet_aton(addr) + struct.pack(">H", port)
    client, segments, off = None, {}, 24
    while off + 16 <= len(data):
        (caplen,) = struct.unpack(order + "I", data[off + 8:off + 12])
        pkt, off = data[off + 16:off + 16 + caplen], off + 16 + caplen
        if pkt[12:14] != b"\x08\x00" or pkt[23] != 6:  # IPv4 and TCP only
            continue
        ip = pkt[14:14 + struct.unpack(">H", pkt[16:18])[0]]  # without the Ethernet padding
        tcp = ip[(ip[0] & 15) * 4:]
        if ip[16:20] + tcp[2:4] != server:
            continue
        if client is None and tcp[13] & 0x12 == 0x02:  # SYN without ACK: the connection's start
            client = ip[12:16] + tcp[0:2]
        payload = tcp[(tcp[12] >> 4) * 4:]
        if client == ip[12:16] + tcp[0:2] and payload:  # by sequence number: retransmits collapse
            segments[struct.unpack(">I", tcp[4:8])[0]] = payload
    stream = b"".join(segments[seq] for seq in sorted(segments))
    frames = []
    while len(stream) >= 4:
        (length,) = struct.unpack(">I", stream[:4])
        frames.append(stream[4:4 + length])
        stream = stream[4 + length:]
    return frames


def replay(stream, frames):
    """Plays a recorded initiator's part; ends in Failed, saying how the node ended it."""
    stream.write_frame(frames[0])
    stream.read_frame()  # message 2, under an ephemeral key the recording knows nothing of
    stream.write_frame(frames[1])
    stream.read_frame()
    for frame in frames[2:]:
        stream.write_frame(frame)
    while True:
        stream.read_frame()


def run(args):
    s = X25519PrivateKey.generate()
    wg_key = base64.b64decode(args.wg_key) if args.wg_key else os.urandom(32)
    print("node own_key=" + wg_key.hex(), flush=True)
    if args.connect:
        sock = socket.create_connection((args.connect, args.port), timeout=10)
    else:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((args.listen, args.port))
        server.listen(1)
        print("listening port=%d" % args.port, flush=True)
        sock, _ = server.accept()
        sock.settimeout(10)
        server.close()
    initiator = bool(args.connect)
    stream = Stream(sock)
    try:
        if args.replay:
            replay(stream, initiator_frames(args.replay, args.connect, args.port))
        sym, peer = (xx_initiator if initiator else xx_responder)(stream, s, args)
        k1, k2 = hkdf(sym.ck, b"")
        send, recv = (k1[:32], k2[:32]) if initiator else (k2[:32], k1[:32])
        channel = Channel(stream, Cipher(send), Cipher(recv))
        if args.save_evidence:
            msg = channel.read()
            if msg[:1] != b"\x01":
                raise Failed("protocol_error", False, "expected an evidence message")
            tee, evidence, _, _ = parse_evidence(msg)
            with open(args.save_evidence, "wb") as f:
                f.write(msg)
            print("saved tee=%s evidence_bytes=%d" % (tee.decode(errors="replace"), len(evidence)),
                  flush=True)
            return 0
        psk, (key, port), attested = attested_exchange(channel, sym.h, sym.ck, peer, initiator,
                                                       args, wg_key)
        print("done psk=%s peer_key=%s peer_port=%d initiated=%d attested=%d" %
              (psk.hex(), key.hex(), port, initiator, attested), flush=True)
        return 0
    except Failed as f:
        print("failed reason=%s by_peer=%d detail=%s" % (f.reason, f.by_peer, f.detail), flush=True)
        return 1
    finally:
        sock.close()


def main():
    ap = argparse.ArgumentParser()
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--connect")
    where.add_argument("--listen")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--attest", action="store_true")
    ap.add_argument("--require", action="store_true")
    ap.add_argument("--wg-port", type=int, default=51820)
    ap.add_argument("--bind-other-key", action="store_true")
    ap.add_argument("--wg-key")
    ap.add_argument("--sample-quote", action="store_true")
    ap.add_argument("--empty-evidence", action="store_true")
    what = ap.add_mutually_exclusive_group()
    what.add_argument("--save-evidence")
    what.add_argument("--send-evidence")
    what.add_argument("--replay")
    sys.exit(run(ap.parse_args()))


if __name__ == "__main__":
    main()
