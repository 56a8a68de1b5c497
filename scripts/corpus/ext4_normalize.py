#!/usr/bin/env python3
"""Make an ext4 image built by `mke2fs -d` reproducible.

mke2fs copies each staged file's atime/ctime from the host, and the host's
ctime is "when the staging tree was made", so two runs differ in the inode
tables.  This rewrites, in every in-use inode:

    atime, ctime, crtime (and their *_extra nanosecond words) := mtime
    uid, gid := 0

and fixes the inode checksum (metadata_csum) incrementally: CRC32C is
affine, so crc(new) = crc(old) XOR crc_lin(old XOR new), where crc_lin is
the CRC of the difference with a zero register.  Only the bytes we touch
can differ, so a small per-position table is enough (no full CRC needed).

    ext4_normalize.py IMAGE

Other nondeterminism is removed on the mke2fs command line (-U, -E
hash_seed=, E2FSPROGS_FAKE_TIME) by the caller.
"""
import struct
import sys

POLY = 0x82F63B78  # CRC32C (Castagnoli), reflected


def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ POLY if c & 1 else c >> 1
        t.append(c)
    return t


CRC_T = _crc_table()


def crc_lin(data):
    """CRC32C register after `data` starting from 0, no inversions."""
    c = 0
    for b in data:
        c = (c >> 8) ^ CRC_T[(c ^ b) & 0xFF]
    return c


def position_tables(positions, length):
    """tab[p][v] = crc_lin of a `length`-byte message that is zero except
    byte p == v.  Built from the 8 single-bit messages by linearity."""
    tabs = {}
    for p in positions:
        bits = []
        for k in range(8):
            msg = bytearray(length)
            msg[p] = 1 << k
            bits.append(crc_lin(msg))
        row = [0] * 256
        for v in range(1, 256):
            low = v & -v
            row[v] = row[v ^ low] ^ bits[low.bit_length() - 1]
        tabs[p] = row
    return tabs


def normalize(path):
    with open(path, "r+b") as f:
        f.seek(1024)
        sb = f.read(1024)
        magic, = struct.unpack_from("<H", sb, 0x38)
        if magic != 0xEF53:
            raise SystemExit("%s: not an ext2/3/4 image" % path)
        log_bs, = struct.unpack_from("<I", sb, 0x18)
        bs = 1024 << log_bs
        first_data_block, = struct.unpack_from("<I", sb, 0x14)
        blocks_lo, = struct.unpack_from("<I", sb, 0x04)
        bpg, = struct.unpack_from("<I", sb, 0x20)
        ipg, = struct.unpack_from("<I", sb, 0x28)
        inode_size, = struct.unpack_from("<H", sb, 0x58)
        incompat, = struct.unpack_from("<I", sb, 0x60)
        ro_compat, = struct.unpack_from("<I", sb, 0x64)
        is64 = bool(incompat & 0x80)
        desc_size = struct.unpack_from("<H", sb, 0xFE)[0] if is64 else 32
        if desc_size < 32:
            desc_size = 32
        blocks = blocks_lo | ((struct.unpack_from("<I", sb, 0x150)[0] << 32) if is64 else 0)
        ngroups = (blocks - first_data_block + bpg - 1) // bpg
        csum = bool(ro_compat & 0x400)  # metadata_csum

        f.seek((first_data_block + 1) * bs)
        gdt = f.read(ngroups * desc_size)

        # byte positions we may change (csum fields excluded on purpose)
        extra_isize = None
        touched = [0x02, 0x03, 0x18, 0x19, 0x78, 0x79, 0x7A, 0x7B]
        touched += list(range(0x08, 0x10))
        if inode_size > 128:
            touched += list(range(0x84, 0x88)) + list(range(0x8C, 0x98))
        tabs = position_tables(touched, inode_size) if csum else None

        changed_inodes = 0
        zero_inode = bytes(inode_size)
        for g in range(ngroups):
            d = gdt[g * desc_size:(g + 1) * desc_size]
            itab = struct.unpack_from("<I", d, 0x08)[0]
            flags = struct.unpack_from("<H", d, 0x12)[0]
            if desc_size >= 64:
                itab |= struct.unpack_from("<I", d, 0x28)[0] << 32
            if flags & 0x1:  # INODE_UNINIT
                continue
            f.seek(itab * bs)
            table = bytearray(f.read(ipg * inode_size))
            dirty = False
            for i in range(ipg):
                o = i * inode_size
                ino = table[o:o + inode_size]
                if ino == zero_inode:
                    continue
                old = bytes(ino)
                mtime = ino[0x10:0x14]
                ino[0x08:0x0C] = mtime  # atime
                ino[0x0C:0x10] = mtime  # ctime
                ino[0x02:0x04] = b"\0\0"  # uid lo
                ino[0x18:0x1A] = b"\0\0"  # gid lo
                ino[0x78:0x7C] = b"\0\0\0\0"  # uid/gid hi
                if inode_size > 128:
                    extra_isize = struct.unpack_from("<H", ino, 0x80)[0]
                    end = 0x80 + extra_isize
                    if end >= 0x8C:
                        mx = ino[0x88:0x8C]
                        ino[0x84:0x88] = mx  # ctime_extra
                        if end >= 0x90:
                            ino[0x8C:0x90] = mx  # atime_extra
                        if end >= 0x98:
                            ino[0x90:0x94] = mtime  # crtime
                            ino[0x94:0x98] = mx  # crtime_extra
                if bytes(ino) == old:
                    continue
                if csum:
                    delta = 0
                    for p in touched:
                        x = old[p] ^ ino[p]
                        if x:
                            delta ^= tabs[p][x]
                    lo, = struct.unpack_from("<H", old, 0x7C)
                    hi = 0
                    has_hi = inode_size > 128 and 0x80 + struct.unpack_from("<H", old, 0x80)[0] >= 0x84
                    if has_hi:
                        hi, = struct.unpack_from("<H", old, 0x82)
                    new = ((hi << 16) | lo) ^ delta
                    struct.pack_into("<H", ino, 0x7C, new & 0xFFFF)
                    if has_hi:
                        struct.pack_into("<H", ino, 0x82, new >> 16)
                table[o:o + inode_size] = ino
                dirty = True
                changed_inodes += 1
            if dirty:
                f.seek(itab * bs)
                f.write(table)
    return changed_inodes


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: ext4_normalize.py IMAGE")
    n = normalize(sys.argv[1])
    print("ext4_normalize: %s: %d inodes rewritten" % (sys.argv[1], n))
