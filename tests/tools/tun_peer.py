#!/usr/bin/env python3
"""Plays the far end of an overlay interface for tests/e2e/steering.sh, on the TUN device itself.

  tun_peer.py IFNAME inject SRC DST DPORT   send a TCP SYN SRC:40000 -> DST:DPORT into the host;
                                            exit 0 when the SYN-ACK comes back out of IFNAME
  tun_peer.py IFNAME answer DST DPORT READY wait for a SYN to DST:DPORT leaving through IFNAME,
                                            answer it, exit 0 when the host's ACK follows
READY is a file created once the device is attached. Waits are bounded (10 s)."""
import fcntl
import os
import select
import socket
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
SYN, RST, ACK = 0x02, 0x04, 0x10


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def tcp_packet(src, dst, sport, dport, seq, ack, flags):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ip + tcp


def parse_tcp(p):
    if len(p) < 40 or p[0] >> 4 != 4 or p[9] != 6:
        return None
    ihl = (p[0] & 15) * 4
    sport, dport, seq, ack, _, flags = struct.unpack("!HHIIBB", p[ihl:ihl + 14])
    return socket.inet_ntoa(p[12:16]), socket.inet_ntoa(p[16:20]), sport, dport, seq, ack, flags


def packets(fd, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if ready:
            t = parse_tcp(os.read(fd, 65535))
            if t:
                yield t


def main():
    ifname, mode = sys.argv[1], sys.argv[2]
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", ifname.encode(), IFF_TUN | IFF_NO_PI))
    if mode == "inject":
        src, dst, dport = sys.argv[3], sys.argv[4], int(sys.argv[5])
        os.write(fd, tcp_packet(src, dst, 40000, dport, 1000, 0, SYN))
        for s, d, sp, dp, _, ack, flags in packets(fd, 10):
            if (s, d, sp, dp) == (dst, src, dport, 40000) and flags & (SYN | ACK) == SYN | ACK and ack == 1001:
                print("syn-ack")
                return 0
        print("no syn-ack")
        return 1
    if mode == "answer":
        dst, dport, ready = sys.argv[3], int(sys.argv[4]), sys.argv[5]
        open(ready, "w").close()
        client = None
        for s, d, sp, dp, seq, ack, flags in packets(fd, 10):
            if client is None and (d, dp) == (dst, dport) and flags & (SYN | ACK) == SYN:
                client = (s, sp)
                print("syn from %s:%d" % client)
                os.write(fd, tcp_packet(dst, s, dport, sp, 5000, seq + 1, SYN | ACK))
            elif client and (s, sp, d, dp) == (client[0], client[1], dst, dport) and flags & ACK and ack == 5001:
                print("ack")
                return 0
        print("no handshake")
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
