#!/usr/bin/env python3
"""Forged VRRPv3 advert flood for bench/vrrp-bench (PARTS=flood): run inside a test namespace.

vrrp-flood.py SRC IFACE VRID RATE SECONDS
Sends RATE packets/s for SECONDS to 224.0.0.18 from SRC on IFACE, cycling through three kinds:
a valid lower-priority advert (priority 50), the same with a bad checksum, and one with TTL 1.
Prints the number of packets actually sent (a loaded machine may not reach RATE)."""
import socket
import struct
import sys
import time

src, iface, vrid, rate, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
GROUP = "224.0.0.18"


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def advert(prio, bad=False):
    # RFC 5798 §5.1: version 3, type 1, VRID, priority, count 1, max advert 10 cs, checksum, address.
    body = struct.pack("!BBBBH", 0x31, vrid, prio, 1, 10) + b"\0\0" + socket.inet_aton("10.99.0.100")
    pseudo = socket.inet_aton(src) + socket.inet_aton(GROUP) + struct.pack("!BBH", 0, 112, len(body))
    c = csum(pseudo + body)
    if bad:
        c ^= 0x5A5A
    return body[:6] + struct.pack("!H", c) + body[8:]


def sock(ttl):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
    s.bind((src, 0))
    return s


ok, low = sock(255), sock(1)
kinds = [(ok, advert(50)), (ok, advert(50, bad=True)), (low, advert(50))]
dst = (GROUP, 0)
sent = 0
start = time.monotonic()
end = start + seconds
batch = max(1, rate // 1000)  # one batch per millisecond
while True:
    now = time.monotonic()
    if now >= end:
        break
    due = int((now - start) * rate)
    for _ in range(min(20 * batch, due - sent)):
        s, p = kinds[sent % 3]
        s.sendto(p, dst)
        sent += 1
    time.sleep(0.0005)
print(sent)
