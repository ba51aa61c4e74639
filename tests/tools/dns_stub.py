#!/usr/bin/env python3
"""A DNS server for one name, for tests: answers A queries for NAME with ADDR, AAAA queries for
NAME with no records, anything else with NXDOMAIN; logs each query on stdout.

  dns_stub.py --listen ADDR[:PORT] --name NAME --addr A.B.C.D
"""
import argparse
import socket
import struct
import sys


def question(msg):
    """(name, qtype, end offset) of the first question, or None."""
    off, labels = 12, []
    while off < len(msg):
        n = msg[off]
        off += 1
        if n == 0:
            if off + 4 > len(msg):
                return None
            qtype = struct.unpack(">H", msg[off:off + 2])[0]
            return ".".join(labels).lower(), qtype, off + 4
        if n > 63 or off + n > len(msg):
            return None
        labels.append(msg[off:off + n].decode("ascii", "replace"))
        off += n
    return None


def answer(msg, name, addr):
    if len(msg) < 12:
        return None
    q = question(msg)
    if not q:
        return None
    qname, qtype, end = q
    known = qname == name
    records = b""
    if known and qtype == 1:
        records = struct.pack(">HHHIH", 0xC00C, 1, 1, 30, 4) + socket.inet_aton(addr)
    flags = 0x8180 if known else 0x8183  # response, recursion available; NXDOMAIN if unknown
    header = msg[:2] + struct.pack(">HHHHH", flags, 1, 1 if records else 0, 0, 0)
    return header + msg[12:end] + records


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--addr", required=True)
    args = ap.parse_args()
    host, _, port = args.listen.partition(":")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, int(port or 53)))
    print("listening", flush=True)
    while True:
        msg, peer = s.recvfrom(512)
        q = question(msg) if len(msg) >= 12 else None
        print("query from %s: %s" % (peer[0], q[:2] if q else "malformed"), flush=True)
        reply = answer(msg, args.name.lower(), args.addr)
        if reply:
            s.sendto(reply, peer)


if __name__ == "__main__":
    sys.exit(main())
