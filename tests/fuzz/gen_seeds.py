#!/usr/bin/env python3
"""gen_seeds.py — writes the binary seed inputs of the fuzz targets whose input is a layout
rather than text: corpus/virtqueue (set-up bytes, driver moves, guest memory image) and
corpus/vhost_user (records of messages and descriptors). The layouts are the ones the targets'
header comments describe. Run from anywhere: python3 tests/fuzz/gen_seeds.py"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
N, W, I = 1, 2, 4     # VRING_DESC_F_NEXT, _WRITE, _INDIRECT


def write(target, seeds):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)


# ---------------------------------------------------------------- virtqueue

def vq(num_log2, feat, base, descs, avail_idx, ring, moves, extra=(), used_idx=0):
    """feat: 1 EVENT_IDX, 2 indirect, 4 inflight (region image at guest offset 0x800)."""
    num = 1 << num_log2
    hdr = bytes([num_log2, feat]) + struct.pack('<H', base) + bytes([0, 0, 0, 0x4])
    mv = bytes(moves).ljust(16, b'\x06')
    mem = bytearray(0x9000)
    for i, (a, ln, f, n) in enumerate(descs):
        struct.pack_into('<QIHH', mem, i * 16, a, ln, f, n)
    avail = num * 16
    struct.pack_into('<HH', mem, avail, 0, avail_idx)
    for i, h in enumerate(ring):
        struct.pack_into('<H', mem, avail + 4 + 2 * i, h)
    used = (avail + 6 + num * 2 + 3) // 4 * 4
    struct.pack_into('<HH', mem, used, 0, used_idx)
    for off, b in extra:
        mem[off:off + len(b)] = b
    return hdr + mv + bytes(mem).rstrip(b'\0')


def virtqueue_seeds():
    ind3 = struct.pack('<QIHHQIHHQIHH', 0x1000, 16, N, 1, 0x2000, 512, N | W, 2, 0x3000, 1, W, 0)
    inflight = (struct.pack('<QHHHH', 0, 1, 8, 0, 0) + struct.pack('<B5xHQ', 1, 0, 5) +
                struct.pack('<B5xHQ', 1, 0, 3))
    return {
        'blk_read': vq(3, 0, 0, [(0x1000, 16, N, 1), (0x2000, 512, N | W, 2), (0x3000, 1, W, 0)], 1, [0], [0]),
        'two_chains_event_idx': vq(3, 1, 0, [(0x1000, 16, N, 1), (0x3000, 1, W, 0), (0x1100, 16, N, 3),
                                              (0x3001, 1, W, 0)], 2, [0, 2], [8, 6, 0, 6]),
        'loop': vq(3, 0, 0, [(0x1000, 16, N, 1), (0x1000, 16, N, 0)], 1, [0], [0]),
        'out_of_range_addr': vq(3, 0, 0, [(0x20000, 16, 0, 0)], 1, [0], [0]),
        'span_regions': vq(3, 0, 0, [(0xff00, 0x200, W, 0)], 1, [0], [0]),
        'huge_len': vq(3, 0, 0, [(0x1000, 0xffffffff, 0, 0)], 1, [0], [0]),
        'read_after_write': vq(3, 0, 0, [(0x1000, 16, N | W, 1), (0x1100, 16, 0, 0)], 1, [0], [0]),
        'indirect': vq(3, 2, 0, [(0x400, 48, I, 0)], 1, [0], [0], [(0x400, ind3)]),
        'indirect_in_indirect': vq(3, 2, 0, [(0x400, 16, I, 0)], 1, [0], [0],
                                   [(0x400, struct.pack('<QIHH', 0x500, 16, I, 0))]),
        'indirect_with_next': vq(3, 2, 0, [(0x400, 16, I | N, 1), (0x1000, 1, 0, 0)], 1, [0], [0]),
        'head_out_of_range': vq(3, 0, 0, [(0x1000, 16, 0, 0)], 1, [9], [0]),
        'avail_idx_too_far': vq(3, 0, 0, [(0x1000, 16, 0, 0)], 20, [0], [0]),
        'avail_idx_games': vq(3, 1, 0xfffe, [(0x1000, 16, 0, 0)], 0xffff, [0, 0],
                              [0, 0x84, 0, 0x24, 6, 0x3d, 0x0f, 7, 0]),
        'next_out_of_range': vq(3, 0, 0, [(0x1000, 16, N, 200)], 1, [0], [0]),
        'inflight_resubmit': vq(3, 4, 0, [(0x1000, 16, 0, 0), (0x1100, 16, 0, 0)], 2, [0, 1], [7, 0, 0],
                                [(0x800, inflight)]),
        'max_queue': vq(10, 3, 0, [(0x1000, 16, 0, 0)], 1, [0], [0, 0x7c, 6]),
    }


# ---------------------------------------------------------------- vhost_user

REQ = ['GET_FEATURES', 'SET_FEATURES', 'SET_OWNER', 'RESET_OWNER', 'SET_MEM_TABLE', 'SET_LOG_BASE',
       'SET_LOG_FD', 'SET_VRING_NUM', 'SET_VRING_ADDR', 'SET_VRING_BASE', 'GET_VRING_BASE',
       'SET_VRING_KICK', 'SET_VRING_CALL', 'SET_VRING_ERR', 'GET_PROTOCOL_FEATURES',
       'SET_PROTOCOL_FEATURES', 'GET_QUEUE_NUM', 'SET_VRING_ENABLE', 'GET_CONFIG', 'SET_CONFIG',
       'GET_INFLIGHT_FD', 'SET_INFLIGHT_FD', 'RESET_DEVICE', 'GET_MAX_MEM_SLOTS']
UVA = 0x7f0000000000
EVENTFD = bytes([1])
KICK, PAUSE = bytes([2]), bytes([3])
FEATURES = (1 << 32) | (1 << 30) | (1 << 29) | (1 << 28)    # VERSION_1, PROTOCOL, EVENT_IDX, INDIRECT
PROTOCOL = (1 << 0) | (1 << 3) | (1 << 9) | (1 << 12)        # MQ, REPLY_ACK, CONFIG, INFLIGHT_SHMFD


def msg(name, payload=b'', fds=(), need_reply=False):
    return (bytes([0, REQ.index(name), 1 if need_reply else 0]) + struct.pack('<H', len(payload)) +
            payload + bytes([len(fds)]) + b''.join(fds))


def memfd(pages, fill=b'', sealed=True):
    return bytes([0 if sealed else 2, pages - 1]) + struct.pack('<H', len(fill)) + fill


def guest_image():
    """A virtio-blk read of sector 0: rings at 0 / 0x80 / 0x100, header, data, status."""
    mem = bytearray(0x1010)
    for i, (a, ln, f, n) in enumerate([(0x1000, 16, N, 1), (0x2000, 512, N | W, 2), (0x3000, 1, W, 0)]):
        struct.pack_into('<QIHH', mem, i * 16, a, ln, f, n)
    struct.pack_into('<HHH', mem, 0x80, 0, 1, 0)
    struct.pack_into('<IIQ', mem, 0x1000, 0, 0, 0)
    return bytes(mem)


def session(event_idx=True, inflight=False):
    feats = FEATURES if event_idx else FEATURES & ~(1 << 29)
    s = msg('GET_FEATURES') + msg('SET_FEATURES', struct.pack('<Q', feats))
    s += msg('GET_PROTOCOL_FEATURES') + msg('SET_PROTOCOL_FEATURES', struct.pack('<Q', PROTOCOL))
    s += msg('SET_OWNER', need_reply=True) + msg('GET_QUEUE_NUM') + msg('GET_MAX_MEM_SLOTS')
    s += msg('GET_CONFIG', struct.pack('<III', 0, 60, 0) + bytes(60))
    if inflight:
        s += msg('GET_INFLIGHT_FD', struct.pack('<QQHH4x', 0, 0, 1, 8))
        s += msg('SET_INFLIGHT_FD', struct.pack('<QQHH4x', 4096, 0, 1, 8), [memfd(1)])
    s += msg('SET_MEM_TABLE', struct.pack('<II', 1, 0) + struct.pack('<QQQQ', 0, 0x10000, UVA, 0),
             [memfd(16, guest_image())], need_reply=True)
    s += msg('SET_VRING_NUM', struct.pack('<II', 0, 8))
    s += msg('SET_VRING_BASE', struct.pack('<II', 0, 0))
    s += msg('SET_VRING_ADDR', struct.pack('<IIQQQQ', 0, 0, UVA, UVA + 0x100, UVA + 0x80, 0))
    s += msg('SET_VRING_CALL', struct.pack('<Q', 0), [EVENTFD])
    s += msg('SET_VRING_KICK', struct.pack('<Q', 0), [EVENTFD])
    s += msg('SET_VRING_ENABLE', struct.pack('<II', 0, 1), need_reply=True)
    return s


def vhost_user_seeds():
    region = lambda gpa, size, uva, off: struct.pack('<QQQQ', gpa, size, uva, off)
    return {
        # the first byte: bit 0 4K blocks, bit 1 read-only, bits 2.. the close mode
        'blk_read_session': bytes([0]) + session() + KICK + PAUSE + PAUSE +
        msg('GET_VRING_BASE', struct.pack('<II', 0, 0)),
        'blk_read_inflight_fail_close': bytes([4]) + session(False, True) + KICK + PAUSE,
        'drain_close_4k': bytes([9]) + session() + KICK,
        'reset_device_midway': bytes([0]) + session() + KICK + msg('RESET_DEVICE') +
        msg('SET_VRING_KICK', struct.pack('<Q', 0), [EVENTFD]),
        'mem_table_overlap': bytes([0]) + msg('SET_MEM_TABLE', struct.pack('<II', 2, 0) +
                                             region(0, 0x10000, UVA, 0) +
                                             region(0x8000, 0x10000, UVA + 0x100000, 0),
                                             [memfd(16), memfd(16)]),
        'mem_table_unsealed': bytes([0]) + msg('SET_MEM_TABLE', struct.pack('<II', 1, 0) +
                                              region(0, 0x10000, UVA, 0), [memfd(16, sealed=False)]),
        'mem_table_too_small': bytes([0]) + msg('SET_MEM_TABLE', struct.pack('<II', 1, 0) +
                                               region(0, 0x100000, UVA, 0x1000), [memfd(1)]),
        'vring_kick_nofd': bytes([0]) + msg('SET_VRING_KICK', struct.pack('<Q', 0x100)),
        'vring_index_out_of_range': bytes([0]) + msg('SET_VRING_NUM', struct.pack('<II', 200, 8)) +
        msg('SET_VRING_ADDR', struct.pack('<IIQQQQ', 7, 0, 0, 0, 0, 0)),
        'too_many_fds': bytes([0, 0, REQ.index('SET_OWNER'), 0, 0, 0, 0x80]) + EVENTFD * 9,
        'bad_size_field': bytes([0, 0, REQ.index('SET_FEATURES'), 0x40, 8, 0]) +
        struct.pack('<Q', FEATURES) + struct.pack('<I', 0xffffffff) + bytes([0]),
        'unknown_request': bytes([0, 0, 0x80 | 99, 0, 0, 0, 0, 0, 0x80 | 26, 0x80]) +
        struct.pack('<I', 0xffffffff) + bytes([0, 0, 0]),
        'set_config': bytes([0]) + msg('SET_CONFIG', struct.pack('<III', 0, 4, 0) + bytes(4)),
    }


if __name__ == '__main__':
    write('virtqueue', virtqueue_seeds())
    write('vhost_user', vhost_user_seeds())
