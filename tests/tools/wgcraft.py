#!/usr/bin/python3
"""Sends malformed WireGuard messages over UDP, for the malformed-input tests.

  wgcraft.py CASE --to HOST:PORT [--count N] [--responder-key B64] [--capture PCAP]
  wgcraft.py cookie_exchange --to HOST:PORT --responder-key B64 [--count N] [--mac2-count M]

CASE names one kind of bad message (see CASES). --responder-key is the target's public key, for
messages that must carry a valid mac1; --capture is a pcap (Ethernet, as `tcpdump -w` writes on a
veth) holding at least one real transport message sent to the target, for replays and tampering.

cookie_exchange floods the target with N (200) initiations that carry a valid mac1 until it is
under load and answers with cookie replies, decrypts a cookie (XChaCha20-Poly1305 under the
target's cookie key, with the answered message's mac1 as associated data), then sends M (20)
initiations carrying a mac2 made with that cookie, all from one UDP socket. It prints
"cookie_replies=R mac2_sent=M" and fails when no cookie reply decrypts.
"""
import argparse
import base64
import hashlib
import ipaddress
import os
import socket
import struct
import sys

MSG_INITIATION, MSG_RESPONSE, MSG_COOKIE_REPLY, MSG_DATA = 1, 2, 3, 4
INITIATION_LEN, RESPONSE_LEN, COOKIE_REPLY_LEN, DATA_MIN_LEN = 148, 92, 64, 32
LABEL_MAC1 = b"mac1----"
LABEL_COOKIE = b"cookie--"


def header(msg_type):
    return struct.pack("<I", msg_type)


def random_index():
    return os.urandom(4)


def with_length(msg_type, length):
    """A message of msg_type padded with random bytes to length (which may be wrong on purpose)."""
    return (header(msg_type) + os.urandom(max(0, length - 4)))[:length]


def mac1(responder_pub, body):
    key = hashlib.blake2s(LABEL_MAC1 + responder_pub).digest()
    return hashlib.blake2s(body, key=key, digest_size=16).digest()


def with_valid_mac1(msg_type, length, responder_pub, fixed=b""):
    """Random contents after the type and fixed bytes, but mac1 computed as the responder checks it."""
    mac1_at = length - 32
    body = header(msg_type) + fixed
    body += os.urandom(mac1_at - len(body))
    return body + mac1(responder_pub, body) + bytes(16)


def hchacha20(key, nonce16):
    """The HChaCha20 subkey of key for the first 16 bytes of an XChaCha20 nonce."""
    state = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    state += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))

    def rotl(v, n):
        return ((v << n) & 0xFFFFFFFF) | (v >> (32 - n))

    def quarter(a, b, c, d):
        state[a] = (state[a] + state[b]) & 0xFFFFFFFF
        state[d] = rotl(state[d] ^ state[a], 16)
        state[c] = (state[c] + state[d]) & 0xFFFFFFFF
        state[b] = rotl(state[b] ^ state[c], 12)
        state[a] = (state[a] + state[b]) & 0xFFFFFFFF
        state[d] = rotl(state[d] ^ state[a], 8)
        state[c] = (state[c] + state[d]) & 0xFFFFFFFF
        state[b] = rotl(state[b] ^ state[c], 7)

    for _ in range(10):
        quarter(0, 4, 8, 12), quarter(1, 5, 9, 13), quarter(2, 6, 10, 14), quarter(3, 7, 11, 15)
        quarter(0, 5, 10, 15), quarter(1, 6, 11, 12), quarter(2, 7, 8, 13), quarter(3, 4, 9, 14)
    return struct.pack("<8I", *(state[0:4] + state[12:16]))


def xchacha20poly1305_open(key, nonce24, ciphertext, ad):
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    subkey = hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(subkey).decrypt(bytes(4) + nonce24[16:], ciphertext, ad)


def cookie_exchange(a, sock, target):
    """Flood, read a cookie reply, answer with mac2; returns the number of decrypted replies."""
    pub = need(a.responder_key, "--responder-key")
    sent_mac1 = {}  # sender_index -> mac1 of the initiation that carried it
    for _ in range(a.count):
        msg = with_valid_mac1(MSG_INITIATION, INITIATION_LEN, pub)
        sent_mac1[msg[4:8]] = msg[116:132]
        sock.sendto(msg, target)
    cookie_key = hashlib.blake2s(LABEL_COOKIE + pub).digest()
    cookie, replies = None, 0
    sock.settimeout(2.0)
    try:
        while True:
            reply = sock.recv(2048)
            if len(reply) != COOKIE_REPLY_LEN or reply[0] != MSG_COOKIE_REPLY or reply[4:8] not in sent_mac1:
                continue
            cookie = xchacha20poly1305_open(cookie_key, reply[8:32], reply[32:64], sent_mac1[reply[4:8]])
            replies += 1
            if replies >= 3:
                break
    except socket.timeout:
        pass
    if cookie is None:
        sys.exit("wgcraft: no cookie reply decrypted")
    for _ in range(a.mac2_count):
        msg = with_valid_mac1(MSG_INITIATION, INITIATION_LEN, pub)[:132]
        sock.sendto(msg + hashlib.blake2s(msg, key=cookie, digest_size=16).digest(), target)
    return replies


def captured_data(path):
    """The UDP payload of the last transport message with content in an Ethernet pcap."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 24:
        sys.exit("wgcraft: %s: not a pcap file" % path)
    magic = blob[:4]
    order = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
             b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}.get(magic)
    if not order:
        sys.exit("wgcraft: %s: not a pcap file" % path)
    linktype = struct.unpack(order + "I", blob[20:24])[0]
    if linktype != 1:
        sys.exit("wgcraft: %s: link type %d, expected Ethernet" % (path, linktype))
    found = None
    off = 24
    while off + 16 <= len(blob):
        incl = struct.unpack(order + "I", blob[off + 8:off + 12])[0]
        frame = blob[off + 16:off + 16 + incl]
        off += 16 + incl
        payload = udp_payload(frame)
        if payload and payload[0] == MSG_DATA and len(payload) > DATA_MIN_LEN:
            found = payload
    if found is None:
        sys.exit("wgcraft: %s: no transport message with content" % path)
    return found


def udp_payload(frame):
    if len(frame) < 14:
        return None
    ethertype = struct.unpack(">H", frame[12:14])[0]
    ip = frame[14:]
    if ethertype == 0x0800 and len(ip) >= 20 and ip[9] == socket.IPPROTO_UDP:
        udp = ip[(ip[0] & 0x0F) * 4:]
    elif ethertype == 0x86DD and len(ip) >= 40 and ip[6] == socket.IPPROTO_UDP:
        udp = ip[40:]
    else:
        return None
    return udp[8:] if len(udp) >= 8 else None


def tampered(data):
    body = bytearray(data)
    body[20] ^= 0x01  # inside the ciphertext, past the 16-byte header
    return bytes(body)


def oversized(data):
    """The real receiver index and counter, then far more ciphertext than any MTU allows."""
    return data[:16] + os.urandom(65000)


def need(value, what):
    if value is None:
        sys.exit("wgcraft: this case needs %s" % what)
    return value


# name -> function(args) returning the message bytes
CASES = {
    "too_short_for_type": lambda a: b"\x01\x00",
    "initiation_short": lambda a: with_length(MSG_INITIATION, INITIATION_LEN - 1),
    "initiation_long": lambda a: with_length(MSG_INITIATION, INITIATION_LEN + 1),
    "response_short": lambda a: with_length(MSG_RESPONSE, RESPONSE_LEN - 1),
    "response_long": lambda a: with_length(MSG_RESPONSE, RESPONSE_LEN + 1),
    "cookie_short": lambda a: with_length(MSG_COOKIE_REPLY, COOKIE_REPLY_LEN - 1),
    "cookie_long": lambda a: with_length(MSG_COOKIE_REPLY, COOKIE_REPLY_LEN + 1),
    "data_short": lambda a: with_length(MSG_DATA, DATA_MIN_LEN - 1),
    "data_header_only": lambda a: with_length(MSG_DATA, 16),
    "unknown_type": lambda a: with_length(5, INITIATION_LEN),
    "type_zero": lambda a: with_length(0, DATA_MIN_LEN),
    "initiation_bad_mac1": lambda a: with_length(MSG_INITIATION, INITIATION_LEN),
    "response_bad_mac1": lambda a: with_length(MSG_RESPONSE, RESPONSE_LEN),
    "initiation_garbage_valid_mac1": lambda a: with_valid_mac1(
        MSG_INITIATION, INITIATION_LEN, need(a.responder_key, "--responder-key")),
    "response_unknown_index_valid_mac1": lambda a: with_valid_mac1(
        MSG_RESPONSE, RESPONSE_LEN, need(a.responder_key, "--responder-key"), random_index() + random_index()),
    "cookie_unknown_index": lambda a: header(MSG_COOKIE_REPLY) + random_index() + os.urandom(56),
    "cookie_forged_for_known_index": lambda a: header(MSG_COOKIE_REPLY) + need(a.data, "--capture")[4:8]
    + os.urandom(56),
    "data_unknown_index": lambda a: header(MSG_DATA) + random_index() + os.urandom(8 + 32),
    "data_tampered": lambda a: tampered(need(a.data, "--capture")),
    "data_oversized": lambda a: oversized(need(a.data, "--capture")),
    "data_replayed": lambda a: need(a.data, "--capture"),
}


def parse_target(text):
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    return family, (host, int(port))


def main():
    p = argparse.ArgumentParser(description="Send malformed WireGuard messages.")
    p.add_argument("case", choices=sorted(CASES) + ["cookie_exchange"])
    p.add_argument("--to", required=True, help="HOST:PORT or [HOST]:PORT")
    p.add_argument("--count", type=int)
    p.add_argument("--mac2-count", type=int, default=20)
    p.add_argument("--responder-key", help="the target's public key, base64")
    p.add_argument("--capture", help="pcap with a real transport message to the target")
    a = p.parse_args()
    if a.responder_key is not None:
        a.responder_key = base64.b64decode(a.responder_key)
        if len(a.responder_key) != 32:
            sys.exit("wgcraft: --responder-key must be 32 bytes of base64")
    a.data = captured_data(a.capture) if a.capture else None
    family, target = parse_target(a.to)
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        if a.case == "cookie_exchange":
            a.count = a.count or 200
            replies = cookie_exchange(a, s, target)
            print("cookie_replies=%d mac2_sent=%d" % (replies, a.mac2_count))
            return
        a.count = a.count or 1
        for _ in range(a.count):
            msg = CASES[a.case](a)
            s.sendto(msg, target)
    print("sent %d x %s" % (a.count, a.case))


if __name__ == "__main__":
    main()
