#!/usr/bin/env python3
"""Load a tng-wg node the way a rogue host could, for the robustness tests.

  flood.py slow --target HOST:PORT --conns N --rate R --seconds S [--sources A,B,...]
      keeps N connections to the attested-handshake port open, each having sent the first bytes
      of a frame and nothing more (so the responder holds it until its deadline), opening at most
      R new connections per second (from each source address in turn), for S seconds; prints how
      many the node refused and why
  flood.py udp --prefix A.B --count N --port P
      sends one UDP datagram to each of N addresses A.B.x.y on port P (a local sender reaching
      many destinations on a captured port), paced so that a TUN queue does not overflow
  flood.py spoof-udp --src A.B.C.D:P --dst E.F.G.H:Q --payload TEXT
      sends one UDP datagram with a forged source address (an attacker on the LAN posing as a
      peer); needs root for the raw socket
"""
import argparse
import select
import socket
import struct
import sys
import time

REASONS = ["ok", "protocol_error", "version_mismatch", "attestation_required",
           "evidence_unavailable", "verification_failed", "verifier_unavailable", "timeout",
           "busy", "rate_limited", "connect_failed", "superseded"]


def slow(args):
    host, port = args.target.rsplit(":", 1)
    sources = args.sources.split(",") if args.sources else [None]
    open_conns, refused, opened = {}, {}, 0
    end = time.monotonic() + args.seconds
    next_open = time.monotonic()
    while time.monotonic() < end:
        now = time.monotonic()
        while len(open_conns) < args.conns and now >= next_open:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            source = sources[opened % len(sources)]
            if source:
                s.bind((source, 0))
            s.connect_ex((host, int(port)))
            open_conns[s.fileno()] = [s, False]
            opened += 1
            next_open += 1.0 / args.rate
        readable, writable, _ = select.select(
            [c[0] for c in open_conns.values() if c[1]],
            [c[0] for c in open_conns.values() if not c[1]], [], 0.05)
        for s in writable:
            try:
                s.send(b"\x00\x00")  # half a frame header: the responder waits for the rest
                open_conns[s.fileno()][1] = True
            except OSError:
                del open_conns[s.fileno()]
                s.close()
        for s in readable:
            try:
                data = s.recv(16)
            except OSError:
                data = b""
            if len(data) == 5 and data[:4] == b"\x00\x00\x00\x01":
                name = REASONS[data[4]] if data[4] < len(REASONS) else "unknown"
                refused[name] = refused.get(name, 0) + 1
            del open_conns[s.fileno()]
            s.close()
    for s, _ in open_conns.values():
        s.close()
    print("opened=%d %s" % (opened, " ".join("refused_%s=%d" % kv for kv in sorted(refused.items()))),
          flush=True)


def udp(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0
    for i in range(args.count):
        addr = "%s.%d.%d" % (args.prefix, i // 254, i % 254 + 1)
        try:
            s.sendto(b"x", (addr, args.port))
            sent += 1
        except OSError:
            pass
        if i % 100 == 99:
            time.sleep(0.1)
    print("sent=%d" % sent, flush=True)


def checksum(data):
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def spoof_udp(args):
    src, sport = args.src.rsplit(":", 1)
    dst, dport = args.dst.rsplit(":", 1)
    payload = args.payload.encode()
    udp_len = 8 + len(payload)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", int(sport), int(dport), udp_len, 0) + payload
    udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp) or 0xFFFF) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.sendto(ip + udp, (dst, 0))
    print("sent", flush=True)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    a = sub.add_parser("slow")
    a.add_argument("--target", required=True)
    a.add_argument("--conns", type=int, default=100)
    a.add_argument("--rate", type=float, default=20)
    a.add_argument("--seconds", type=float, default=30)
    a.add_argument("--sources")
    b = sub.add_parser("udp")
    b.add_argument("--prefix", required=True)
    b.add_argument("--count", type=int, required=True)
    b.add_argument("--port", type=int, required=True)
    c = sub.add_parser("spoof-udp")
    c.add_argument("--src", required=True)
    c.add_argument("--dst", required=True)
    c.add_argument("--payload", required=True)
    args = ap.parse_args()
    return {"slow": slow, "udp": udp, "spoof-udp": spoof_udp}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
