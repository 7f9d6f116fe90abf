#!/usr/bin/env python3
"""Seeds for fuzz_vhost_user: the handshake QEMU makes, split and packed,
with descriptors written into the fuzzer's guest RAM (records as
fuzz_vhost_user.c reads them: op, nfds, le16 length, message; or op 3,
le16 offset, count, bytes).  Usage: gen_vhost_user_seeds.py DIR"""
import os
import struct
import sys

GPA, UVA, RAM = 0x100000, 0x7f0000000000, 65536
NUM = 16


def msg(req, payload=b"", nfds=0, flags=0x1 | 0x8):
    m = struct.pack("<III", req, flags, len(payload)) + payload
    return struct.pack("<BBH", 0, nfds, len(m)) + m


def write(off, data):
    out = b""
    for i in range(0, len(data), 64):
        chunk = data[i:i + 64]
        out += struct.pack("<BHB", 3, off + i, len(chunk)) + chunk
    return out


def u64(v):
    return struct.pack("<Q", v)


def state(i, n):
    return struct.pack("<II", i, n)


def handshake(packed, event_idx, indirect):
    feat = (1 << 32) | (1 << 30) | (packed << 34) | (event_idx << 29) | (indirect << 28)
    s = msg(1, flags=1) + msg(15, flags=1) + msg(16, u64(0x2209)) + msg(3) + msg(2, u64(feat))
    s += msg(5, struct.pack("<II", 1, 0) + struct.pack("<QQQQ", GPA, RAM, UVA, 0), nfds=1)
    for q in range(2):
        base = 0x1000 + q * 0x1000
        desc, drv, dev = base, base + 16 * NUM, base + 0x800
        s += msg(8, state(q, NUM))
        s += msg(9, struct.pack("<IIQQQQ", q, 0, UVA + desc, UVA + dev, UVA + drv, 0))
        s += msg(10, state(q, 0x80008000 if packed else 0))
        s += msg(13, u64(q), nfds=1) + msg(12, u64(q), nfds=1) + msg(18, state(q, 1))
    return s


def split_chain():
    # ring 0: two descriptors (16 B readable, 512 B writable), avail idx 1
    d = struct.pack("<QIHH", GPA + 0x4000, 16, 1, 1) + struct.pack("<QIHH", GPA + 0x5000, 512, 2, 0)
    return write(0x1000, d) + write(0x1000 + 16 * NUM, struct.pack("<HHH", 0, 1, 0))


def packed_chain():
    avail = 1 << 7
    d = struct.pack("<QIHH", GPA + 0x4000, 16, 0, avail | 1) + struct.pack("<QIHH", GPA + 0x5000, 512, 0, avail | 2)
    return write(0x1000, d)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = {
        "split": handshake(0, 0, 0) + split_chain() + msg(11, state(0, 0), flags=1),
        "split_eidx_indirect": handshake(0, 1, 1) + split_chain(),
        "packed": handshake(1, 1, 0) + packed_chain() + msg(11, state(0, 0), flags=1),
        "config_reset": handshake(0, 0, 0) + msg(24, struct.pack("<III", 0, 60, 0) + bytes(60), flags=1) + msg(34) + msg(4),
        "memtable_replace": handshake(0, 0, 0) + split_chain() +
        msg(5, struct.pack("<II", 2, 0) + struct.pack("<QQQQ", GPA, 0x8000, UVA, 0) +
            struct.pack("<QQQQ", GPA + 0x8000, 0x8000, UVA + 0x8000, 0x8000), nfds=2),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
