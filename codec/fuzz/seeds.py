#!/usr/bin/env python3
"""Writes the seed corpus in codec/fuzz/corpus/<target>/ (the input layouts
are documented at the top of codec/fuzz/src/<target>.rs). Rerun after
changing a layout; files are named by what they exercise."""

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])


def frame(b0, payload, mask=KEY, kind=0):
    """A client frame with first byte b0, length field kind 0 (minimal),
    16 or 64, masked with mask unless it is None."""
    n = len(payload)
    m = 0x80 if mask else 0
    if kind == 0 and n <= 125:
        h = bytes([b0, m | n])
    elif kind in (0, 16) and n <= 0xFFFF:
        h = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        h = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if not mask:
        return h + payload
    return h + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def fin(op, payload, **kw):
    return frame(0x80 | op, payload, **kw)


def part(op, payload, **kw):
    return frame(op, payload, **kw)


def close(code, reason=b""):
    return fin(8, struct.pack(">H", code) + reason)


# session: byte 0 = client(0) | whole(1-3) << 1 | max_frame(4-6) << 4 |
# script << 7; byte 1 = max_message(0-2) | rsv4 << 3 | slack(4-5) << 4 |
# relocate << 6; byte 2 = number of op bytes (read sizes).
S_WHOLE = {0: 0, 2: 1, 6: 2, 131: 3, 256: 4, 300: 5, 1024: 6, 16384: 7}
S_FRAME = {"inf": 0, 0: 1, 125: 2, 126: 3, 1000: 4, 65535: 5, 65536: 6, 1 << 20: 7}
S_MSG = {"inf": 0, 0: 1, 1: 2, 125: 3, 1000: 4, 4096: 5, 65536: 6, 1 << 20: 7}


def rd(n):  # read n bytes, 1..=64
    return n - 1


def rd61(k):  # k * 61 bytes
    return 0x40 | (k - 1)


def rd1021(k):  # k * 1021 bytes
    return 0x80 | (k - 1)


RD_ALL = 0xFF


def session(body=b"", whole=256, maxf="inf", maxm="inf", client=False, rsv=False, slack=0,
            relocate=False, ops=(), script=False):
    b0 = (1 if client else 0) | S_WHOLE[whole] << 1 | S_FRAME[maxf] << 4 | (0x80 if script else 0)
    b1 = S_MSG[maxm] | (8 if rsv else 0) | slack << 4 | (0x40 if relocate else 0)
    return bytes([b0, b1, len(ops)]) + bytes(ops) + body


def ufin(op, payload, **kw):
    """An unmasked frame, as a server sends (what a client-role session expects)."""
    return frame(0x80 | op, payload, mask=None, **kw)


def upart(op, payload, **kw):
    return frame(op, payload, mask=None, **kw)


def uclose(code, reason=b""):
    return ufin(8, struct.pack(">H", code) + reason)


def rec(b0, payload=b"", flip=False, key=0x11):
    """Script record with a literal payload (<= 125 bytes); flip: masked the
    other way than the role expects."""
    assert len(payload) <= 125
    return bytes([b0, (0x80 if flip else 0) | len(payload), key]) + payload


def gen(b0, length, pattern, wide=False, key=0x22, flip=False):
    """Script record with a generated payload: 16-bit or 24-bit length."""
    code = 127 if wide else 126
    ln = struct.pack(">I", length)[1:] if wide else struct.pack(">H", length)
    return bytes([b0, (0x80 if flip else 0) | code, key]) + ln + bytes([len(pattern) - 1]) + pattern


SLOW = [rd(1)]
CHOPPY = [rd(3), rd(7), rd(64), rd61(2), rd(1), RD_ALL]

TEXT = "h\u00e9llo \u20ac \U0001F600".encode()

SESSION = {
    "hello_at_once": session(fin(1, b"Hello")),
    "hello_bytewise": session(fin(1, b"Hello"), ops=SLOW),
    "client_hello": session(ufin(1, b"Hello"), client=True),
    "client_masked": session(fin(1, b"Hello"), client=True),
    "fragmented_with_ping": session(
        part(1, b"Hel") + fin(9, b"ping!") + fin(0, b"lo") + close(1000, b"bye"), ops=CHOPPY),
    "client_fragmented_with_ping": session(
        upart(1, b"Hel") + ufin(9, b"ping!") + ufin(0, b"lo") + uclose(1000, b"bye"),
        client=True, ops=CHOPPY, relocate=True),
    "utf8_across_fragments": session(part(1, TEXT[:8]) + part(0, TEXT[8:13]) + fin(0, TEXT[13:]),
                                     ops=[rd(2), rd(3)]),
    "utf8_streamed_bytewise": session(part(1, TEXT[:8]) + fin(0, TEXT[8:]), whole=0, ops=SLOW),
    "binary_256": session(fin(2, bytes(range(256))) + close(1001), whole=1024),
    "empty_frames": session(fin(1, b"") + fin(2, b"") + part(1, b"") + fin(0, b"") + fin(8, b"")),
    "empty_frames_streamed": session(fin(1, b"") + part(2, b"") + fin(0, b"") + fin(10, b""), whole=0),
    "header_only_whole": session(fin(2, b"") + fin(1, b"x"), whole=6, ops=SLOW),
    "non_minimal_lengths": session(fin(2, b"abc", kind=16) + fin(1, b"xyz", kind=64) + fin(9, b"p", kind=64)),
    "pings_and_pongs": session(fin(9, b"") + fin(10, b"x") + fin(9, b"a" * 125) + fin(1, b"ok"), ops=CHOPPY),
    "invalid_utf8": session(fin(1, b"ab\xc3\x28")),
    "invalid_utf8_early": session(fin(1, b"ab\xff" + b"x" * 100)[:12], whole=1024),
    "incomplete_utf8_at_fin": session(part(1, b"\xe2\x82") + fin(0, b"")),
    "incomplete_utf8_at_fin_streamed": session(part(1, b"\xe2\x82") + fin(0, b""), whole=0),
    "surrogate": session(fin(1, b"\xed\xa0\x80")),
    "close_codes": session(close(4999, "d\u00e9j\u00e0".encode())),
    "close_empty": session(fin(8, b"") + fin(1, b"after")),
    "close_1005": session(close(1005)),
    "close_1_byte": session(fin(8, b"\x03")),
    "close_bad_reason": session(close(1000, b"\xff")),
    "unmasked": session(fin(1, b"hi", mask=None)),
    "rsv_bits": session(frame(0xC1, b"hi")),
    "rsv1_allowed": session(frame(0x41, b"\xff\xfe") + fin(0, b"\xff") + frame(0xC2, b"z"), rsv=True),
    "rsv1_on_continuation": session(frame(0x41, b"a") + frame(0xC0, b"b"), rsv=True),
    "rsv1_on_ping": session(frame(0xC9, b""), rsv=True),
    "rsv2_refused": session(frame(0xA1, b"a"), rsv=True),
    "rsv1_text_streamed": session(frame(0xC1, b"\xff" * 300), rsv=True, whole=0, ops=[rd(50)]),
    "unknown_opcode": session(fin(3, b"")),
    "control_too_long": session(fin(9, b"x" * 126)),
    "fragmented_ping": session(part(9, b"")),
    "orphan_continuation": session(fin(0, b"x")),
    "text_inside_message": session(part(1, b"a") + fin(1, b"b")),
    "top_bit_length": session(bytes([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1])),
    "frame_too_big": session(fin(2, b"z" * 125) + fin(2, b"z" * 126), maxf=125),
    "message_too_big": session(part(2, b"z" * 600) + fin(0, b"z" * 600), maxm=1000, ops=[rd61(5)]),
    "message_limit_exact": session(part(1, b"a" * 500) + fin(0, b"b" * 500) + fin(2, b"c" * 1000),
                                   maxm=1000, whole=300),
    "message_limit_zero": session(fin(2, b"") + fin(2, b"x"), maxm=0),
    "streamed_raw_300": session(part(2, bytes(range(256)) * 2) + fin(0, b"end"), whole=256,
                                ops=[rd(50), rd(3)]),
    "truncated_whole": session(fin(1, b"x" * 100)[:50]),
    "truncated_whole_text_idle": session(fin(1, b"x" * 100)[:6], whole=1024),
    "truncated_header": session(fin(1, b"x" * 300)[:3]),
    "ping_64bit_length_full_buffer": session(fin(9, b"x" * 125, kind=64) + fin(1, b"ok"), whole=0),
    "client_ping_64bit_length": session(ufin(9, b"x" * 125, kind=64) + ufin(10, b"y"), client=True, whole=6,
                                        ops=[rd(64), rd(64), rd(64)]),
    # Frame scripts: large frames described compactly.
    "script_big_text": session(gen(0x81, 5000, "\u00e9\u20ac".encode()), whole=256, ops=CHOPPY, script=True),
    "script_big_text_client": session(gen(0x81, 5000, "\u00e9\u20ac".encode()) + rec(0x89, b"pi"),
                                      whole=300, client=True, ops=CHOPPY, script=True),
    "script_big_text_16k": session(gen(0x81, 40000, "\U0001F600a".encode(), wide=True) + rec(0x88, b"\x03\xe8"),
                                   whole=16384, slack=2, ops=[rd61(64)], script=True),
    "script_streamed_fragments": session(gen(0x01, 701, "\u20ac".encode()) + rec(0x89, b"pi")
                                         + gen(0x80, 703, b"\xac\xe2\x82", wide=True),
                                         whole=300, ops=SLOW, script=True),
    "script_streamed_bad_utf8": session(gen(0x01, 900, b"abc") + gen(0x80, 900, b"abcdefg\xff"),
                                        whole=256, ops=[rd61(3)], script=True),
    "script_streamed_incomplete_fin": session(gen(0x81, 1001, "\u20ac".encode()), whole=256, ops=[rd(40)],
                                              script=True),
    "script_big_binary_limit": session(gen(0x82, 65535, b"\x00\xff") + gen(0x82, 65536, b"x", wide=True),
                                       whole=1024, maxf=65535, ops=CHOPPY, script=True),
    "script_huge_claimed": session(gen(0x82, 3 << 20, b"q", wide=True), maxf=1 << 20, script=True),
    "script_truncated_stream": session(gen(0x82, 3000, b"q") + rec(0x81, b"tail")[:5],
                                       whole=256, ops=[rd(10), rd(1)], script=True),
    "script_violation_mask": session(rec(0x81, b"ok") + rec(0x81, b"bad", flip=True), script=True),
    "script_rsv_message": session(gen(0x41, 3000, b"\xff\x00") + rec(0x80, b"\xfe") + rec(0xC2, b"x"),
                                  rsv=True, whole=1024, ops=[rd1021(1), rd(5)], script=True),
    "script_message_limit": session(gen(0x02, 3000, b"ab") + gen(0x00, 2000, b"c"), maxm=4096,
                                    whole=1024, ops=[rd61(20)], script=True),
}

# echo: byte 0 = capacity(0-2) | whole(3-4) << 3 | compact(5-6) << 5 |
# script << 7; byte 1 = max_frame(0-2) | max_message(3-5) << 3; byte 2 =
# number of op bytes.
E_CAP = {2048: 0, 4096: 1, 1300: 2, 3000: 3, 8192: 4, 16391: 5, 65536: 6, 262144: 7}
E_WHOLE = {"max": 0, 0: 1, 256: 2, 1024: 3}
E_COMPACT = {1024: 0, 0: 1, 16384: 2, 64: 3}
E_FRAME = {1 << 30: 0, 0: 1, 125: 2, 1000: 3, 4096: 4, 65535: 5, 65536: 6, 1 << 20: 7}
E_MSG = {"inf": 0, 0: 1, 125: 2, 1000: 3, 5000: 4, 65536: 5, 1 << 20: 6, 1 << 30: 7}


def e_read(n):  # 1..=32
    return n - 1


def e_read97(k):  # k * 97, k 1..=32
    return 0x20 | (k - 1)


def e_read4099(k):
    return 0x40 | (k - 1)


def e_send(k):  # k * 13 bytes, k 0..=30; None: all
    return 0x7F if k is None else 0x60 | k


def e_send1500(k):
    return 0x80 | (k - 1)


def e_stall(k):  # k rounds without the peer reading
    return 0xA0 | (k - 1)


def e_ping(k):  # payload 4k bytes; 31: 126 (refused)
    return 0xC0 | k


def e_close(code, reason):  # code index 0..7, reason index 0..2
    return 0xE0 | (reason * 8 + code)


E_RELEASE = 0xFF


def echo(body=b"", cap=262144, whole="max", compact=1024, maxf=1 << 30, maxm="inf", ops=(), script=False):
    b0 = E_CAP[cap] | E_WHOLE[whole] << 3 | E_COMPACT[compact] << 5 | (0x80 if script else 0)
    b1 = E_FRAME[maxf] | E_MSG[maxm] << 3
    return bytes([b0, b1, len(ops)]) + bytes(ops) + body


E_CHOPPY = [e_read(3), e_send(1), e_read97(2), e_ping(2), e_send(7), e_read(20), e_send(None), E_RELEASE]
E_STALLED = [e_stall(30), e_read4099(8), e_stall(5), e_send1500(2), e_ping(0), e_stall(3)]

ECHO = {
    "hello": echo(fin(1, b"Hello")),
    "hello_bytewise": echo(fin(1, b"Hello"), ops=[e_read(1), e_send(1)]),
    "conversation": echo(fin(1, "h\u00e9llo".encode()) + part(1, b"Hel") + fin(9, b"p1") + part(0, b"")
                         + fin(0, b"lo") + fin(10, b"ignored") + fin(2, bytes(range(200))) + close(1000, b"bye"),
                         ops=E_CHOPPY),
    "small_buffer_streams": echo(fin(2, bytes(range(256)) * 8) + fin(1, TEXT * 50), cap=2048, ops=E_CHOPPY),
    "stalled_peer": echo(b"".join(fin(2, bytes([i]) * 150) for i in range(20)), cap=2048, ops=E_STALLED),
    "script_stalled_peer": echo(b"".join(gen(0x82, 700, bytes([i])) for i in range(40)), cap=4096,
                                ops=E_STALLED, script=True),
    "no_compaction": echo(b"".join(fin(2, bytes([i]) * 30) for i in range(100)), compact=0,
                          ops=[e_read97(32), e_send(3), e_stall(2)]),
    "server_ping_and_close": echo(fin(1, b"a") + fin(9, b"q") + fin(1, b"late") + close(1001),
                                  ops=[e_read(8), e_ping(3), e_close(1, 1), e_read(64), e_ping(1)]),
    "server_close_long_reason": echo(fin(1, b"x"), ops=[e_close(4, 2), e_read(30)]),
    "server_close_invalid": echo(fin(1, b"x"), ops=[e_close(5, 0), e_close(6, 1), e_close(7, 0)]),
    "server_close_mid_stream": echo(fin(2, b"s" * 3000) + fin(1, b"after"), cap=2048, whole=0,
                                    ops=[e_read97(5), e_close(0, 1), e_read97(32)]),
    "ping_too_long": echo(fin(1, b"x"), ops=[e_ping(31), e_read(30)]),
    "failure_in_first_piece": echo(frame(0x81, b"\xff") + fin(1, b"never"), whole=0),
    "failure_mid_message": echo(part(1, b"abc") + fin(0, b"\xff"), whole=0, ops=[e_read(3), e_send(None)]),
    "frame_too_big": echo(fin(2, b"z" * 200), maxf=125),
    "message_too_big": echo(part(2, b"z" * 600) + fin(0, b"z" * 600), maxm=1000),
    "empty_streamed": echo(fin(1, b"") + part(2, b"") + fin(0, b""), whole=0),
    "peer_close_in_message": echo(part(1, b"a") + close(1001)),
    "release_between": echo(fin(1, b"one") + fin(1, b"two"), ops=[e_read(11), e_send(None), E_RELEASE, e_read(9)]),
    "script_big_text": echo(gen(0x81, 30000, "\u00e9\u20ac".encode()) + rec(0x89, b"pi"), cap=4096,
                            ops=E_CHOPPY, script=True),
    "script_whole_production": echo(gen(0x82, 200000, b"\x00\xff", wide=True) + rec(0x81, b"tail"),
                                    ops=[e_read4099(16), e_send1500(30), e_stall(4)], script=True),
    "script_streamed_fragments": echo(gen(0x01, 5000, "\u20ac".encode()) + rec(0x89, b"pi")
                                      + gen(0x80, 7000, b"\xac\xe2\x82", wide=True),
                                      cap=2048, ops=E_STALLED, script=True),
    "script_bad_utf8_streamed": echo(gen(0x01, 9000, b"abc") + gen(0x80, 900, b"abcdefg\xff"),
                                     cap=3000, whole=256, ops=[e_read97(3), e_send(None)], script=True),
    "script_truncated": echo(gen(0x82, 30000, b"q") + rec(0x81, b"tail")[:5], cap=8192, ops=E_CHOPPY,
                             script=True),
    "script_unmasked": echo(rec(0x81, b"ok") + rec(0x81, b"bad", flip=True), script=True),
}

# session_send: byte 0 = client | rsv choice (0, 4, 7, 1) << 1 | seed << 3;
# then ops (op byte = kind | flags << 3, then parameter bytes).
SEND_RSV = {0: 0, 4: 1, 7: 2, 1: 3}
TEXT_F, BIN_F, CONT_F = 0, 1, 2


def s_hdr(frame, fin, rsv, length):  # data_header with an explicit 2-byte or 8-byte length
    if length < 0x10000:
        return bytes([(frame | (4 if fin else 0) | 1 << 3) << 3, rsv]) + struct.pack(">H", length)
    return bytes([(frame | (4 if fin else 0) | 3 << 3) << 3, rsv]) + struct.pack(">Q", length << 1)


def s_hdr_table(frame, fin, rsv, idx):  # 125, 126, 127, 65535, 65536, 2^32, 2^63-1, 0
    return bytes([(frame | (4 if fin else 0) | 2 << 3) << 3, rsv, idx])


def s_data(frame, fin, rsv, n, room=8, cont=False):  # room 8: exactly what is needed
    kind = 7 if cont else 1
    if n < 256:
        return bytes([kind | (frame | (4 if fin else 0)) << 3, rsv, n, room])
    return bytes([kind | (frame | (4 if fin else 0) | 1 << 3) << 3, rsv]) + struct.pack(">H", n) + bytes([room])


def s_ctl_hdr(pong, n):
    return bytes([2 | (8 if pong else 0), n])


def s_ping(n, room=8):
    return bytes([3, n, room])


def s_pong(n, room=8):
    return bytes([4, n, room])


def s_close(code=None, idx=None, reason=0, room=8, sel=0):
    if code is None and idx is None:
        return bytes([5 | (1 | sel << 2) << 3, reason, room])
    if idx is not None:
        return bytes([5 | (sel << 2) << 3, idx, reason, room])
    return bytes([5 | (2 | sel << 2) << 3]) + struct.pack(">H", code) + bytes([reason, room])


def s_recv_close(empty=False):
    return bytes([6 | (8 if empty else 0)])


def send(ops, client=False, rsv=0, seed=0):
    return bytes([(1 if client else 0) | SEND_RSV[rsv] << 1 | seed << 3]) + b"".join(ops)


SEND_MESSAGE = [s_data(TEXT_F, False, 0, 5), s_ping(3), s_data(CONT_F, False, 0, 0), s_data(CONT_F, True, 0, 200),
                s_data(BIN_F, True, 0, 70), s_pong(125)]
SEND_RULES = [s_data(CONT_F, True, 0, 3), s_data(TEXT_F, False, 0, 3), s_data(BIN_F, True, 0, 3),
              s_data(CONT_F, True, 4, 3), s_data(CONT_F, True, 0, 3), s_ctl_hdr(False, 126), s_ping(126),
              s_pong(200, room=0x80 | 60), s_close(code=1005), s_close(code=999), s_close(code=5000)]

SEND = {
    "server_message": send(SEND_MESSAGE),
    "client_message": send(SEND_MESSAGE, client=True, seed=3),
    "rules_server": send(SEND_RULES),
    "rules_client": send(SEND_RULES, client=True),
    "rsv1_first_frame": send([s_data(TEXT_F, False, 4, 10), s_data(CONT_F, True, 4, 1), s_data(CONT_F, True, 0, 1),
                              s_data(BIN_F, True, 2, 1), s_hdr(BIN_F, True, 4, 300)], rsv=4),
    "rsv_all_allowed": send([s_hdr(TEXT_F, True, 7, 5), s_hdr(BIN_F, False, 3, 5), s_hdr(CONT_F, True, 1, 5),
                             s_hdr(TEXT_F, True, 8, 5)], rsv=7, client=True),
    "no_room": send([s_data(BIN_F, True, 0, 125, room=7), s_data(BIN_F, True, 0, 126, room=0),
                     s_ping(0, room=7), s_close(idx=0, reason=20, room=0), s_close(idx=0, reason=20)],
                    client=True),
    "lengths": send([s_hdr_table(BIN_F, False, 0, i) for i in (7, 0, 1, 2, 3, 4, 5, 6)]
                    + [s_hdr(CONT_F, True, 0, 1 << 40)]),
    "big_payloads": send([bytes([1 | (BIN_F | 4 | 2 << 3) << 3, 0, i, 8]) for i in (0, 1, 2, 3, 4)], client=True),
    "close_long_reason": send([s_close(idx=0, reason=200, sel=1), s_ping(1), s_data(TEXT_F, True, 0, 1)],
                              client=True),
    "close_reason_boundaries": send([s_close(idx=11, reason=122, sel=3, room=0x80 | 10), s_close(idx=11, reason=121, sel=2)]),
    "close_empty_then_all": send([s_close(), s_close(idx=0), s_ping(0), s_data(TEXT_F, True, 0, 0),
                                  s_hdr(CONT_F, True, 0, 1), s_ctl_hdr(True, 0)]),
    "peer_close_then_ours": send([s_data(TEXT_F, False, 0, 2), s_recv_close(), s_close(idx=0),
                                  s_recv_close(empty=True)], client=True),
    "many_client_frames": send([s_ping(i) for i in range(20)] + [s_ctl_hdr(True, 3)] * 4, client=True, seed=9),
    "room_arbitrary": send([s_data(BIN_F, True, 0, n, room=0x80 | r) for n, r in
                            ((3, 1), (100, 16), (126, 19), (200, 30))], client=True),
}

# handshake: byte 0 = subrequest | body << 1 | version choice << 2; then
# method line and header lines.
GOOD_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def request(headers, method=b"GET", version=0, body=False, sub=False, raw_version=None):
    flags = (1 if sub else 0) | (2 if body else 0) | (version << 2)
    out = bytes([flags])
    if raw_version is not None:
        out = bytes([flags | 7 << 2]) + struct.pack("<I", raw_version)
    return out + b"\n".join([method] + headers)


GOOD = [b"Host:example.com", b"Upgrade: websocket", b"Connection: keep-alive, Upgrade",
        b"Sec-WebSocket-Key: " + GOOD_KEY, b"Sec-WebSocket-Version: 13"]

HANDSHAKE = {
    "good": request(GOOD),
    "good_case_and_spaces": request([b"UPGRADE:\tWebSocket ", b"connection:upgrade",
                                     b"sec-websocket-key:  " + GOOD_KEY + b"\t",
                                     b"SEC-WEBSOCKET-VERSION: 13 "]),
    "good_http_1_2": request(GOOD, version=2),
    "post": request(GOOD, method=b"POST"),
    "http_1_0": request(GOOD, version=1),
    "http_2": request(GOOD, version=4),
    "raw_version": request(GOOD, raw_version=1500),
    "body": request(GOOD, body=True),
    "subrequest": request(GOOD, sub=True),
    "no_upgrade": request(GOOD[2:]),
    "split_tokens": request([b"Upgrade: h2c", b"Upgrade: websocket", b"Connection: close",
                             b"Connection: ,, upgrade ,"] + GOOD[3:]),
    "version_8": request(GOOD[:4] + [b"Sec-WebSocket-Version: 8"]),
    "version_twice": request(GOOD + [b"Sec-WebSocket-Version: 13"]),
    "key_twice": request(GOOD + [b"Sec-WebSocket-Key: " + GOOD_KEY]),
    "key_noncanonical": request(GOOD[:3] + [b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==", GOOD[4]]),
    "key_17_bytes": request(GOOD[:3] + [b"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=", GOOD[4]]),
    "key_urlsafe": request(GOOD[:3] + [b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j-Q==", GOOD[4]]),
    "no_colon": request([b"Upgrade", b"Connection upgrade"] + GOOD[3:]),
    "protocols": request(GOOD + [b"Sec-WebSocket-Protocol: chat, superchat", b"sec-websocket-protocol:v2.json,,"]),
    "protocol_empty": request(GOOD + [b"Sec-WebSocket-Protocol: , "]),
    "protocol_not_token": request(GOOD + [b"Sec-WebSocket-Protocol: chat superchat"]),
    "protocol_quoted": request(GOOD + [b"Sec-WebSocket-Protocol: \"chat\""]),
    "protocol_9_lines": request(GOOD + [b"Sec-WebSocket-Protocol: chat"] * 9),
    "protocol_8_lines": request(GOOD + [b"Sec-WebSocket-Protocol: chat"] * 8),
    "protocol_bad_and_bad_key": request(GOOD[:3] + [b"Sec-WebSocket-Key: x", GOOD[4], b"Sec-WebSocket-Protocol: a b"]),
    "origin": request(GOOD + [b"Origin:  https://example.com "]),
    "origin_twice": request(GOOD + [b"Origin: https://a.example", b"origin: https://a.example"]),
    "origin_twice_bad_protocol": request(GOOD + [b"Origin: x", b"Origin: y", b"Sec-WebSocket-Protocol: ;"]),
    "extensions": request(GOOD + [b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x"]),
}

# utf8: byte 0 = number of piece sizes (low 4 bits), the sizes, the text.
def pieces(sizes, text):
    return bytes([len(sizes)]) + bytes(sizes) + text


UTF8 = {
    "mixed_whole": pieces([], TEXT + "\u03ba\u1f79\u03c3\u03bc\u03b5".encode()),
    "mixed_bytewise": pieces([1], TEXT),
    "mixed_2_3": pieces([2, 3], TEXT * 2),
    "boundaries": pieces([1, 0, 2], "\U0010FFFF\uFFFF\u0800\u07FF\u0080\u007F".encode()),
    "truncated": pieces([3], b"ab\xe2\x82"),
    "overlong": pieces([1], b"\xc0\xaf\xe0\x80\xaf"),
    "surrogate": pieces([2], b"a\xed\xa0\x80b"),
    "above_max": pieces([1], b"\xf4\x90\x80\x80"),
    "bad_continuation": pieces([4, 1], b"abcd\xf0\x9f\x98\x41"),
    "f5_ff": pieces([], b"x\xf5y\xff"),
    "late_error": pieces([5, 7, 11], "\u20ac".encode() * 20 + b"\x80"),
}

# client_handshake, response mode: byte 0 = limit choice << 1 | extensions
# offered << 3 | number of piece sizes << 4; the piece sizes; 16 key bytes;
# offer text length and text (extensions line first, then protocols); the
# response. Request mode: byte 0 = 1 | extensions << 1 | protocols << 2; 16
# key bytes; fields split at 0xFF (host, path, extensions, protocols, then
# headers as name 0xFE value).
NONCE = b"the sample nonce"
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
LIMIT = {None: 0, 40: 1, 120: 2, 400: 3}


def offer_response(resp, protocols=(), extensions=None, pieces=(), limit=None, key=NONCE):
    flags = LIMIT[limit] << 1 | (8 if extensions is not None else 0) | len(pieces) << 4
    text = b"\n".join(([extensions] if extensions is not None else []) + list(protocols))
    assert len(text) < 256 and len(pieces) < 16
    return bytes([flags]) + bytes(pieces) + key + bytes([len(text)]) + text + resp


def answer(*lines, status=b"HTTP/1.1 101 Switching Protocols"):
    return b"".join(l + b"\r\n" for l in (status,) + lines) + b"\r\n"


UP, CONN, ACC = b"Upgrade: websocket", b"Connection: Upgrade", b"Sec-WebSocket-Accept: " + ACCEPT
CHAT = [b"chat", b"superchat"]
PMD = b"permessage-deflate; client_max_window_bits, x-foo"


def client_request(host=b"example.com", path=b"/chat", protocols=(), extensions=None, headers=(), key=NONCE):
    flags = 1 | (2 if extensions is not None else 0) | len(protocols) << 2
    fields = [host, path] + ([extensions] if extensions is not None else []) + list(protocols)
    fields += [n + b"\xfe" + v for n, v in headers]
    return bytes([flags]) + key + b"\xff".join(fields)


CLIENT = {
    "rfc_sample": offer_response(answer(UP, CONN, ACC)),
    "rfc_sample_bytewise": offer_response(answer(UP, CONN, ACC), pieces=[1]),
    "split_odd_pieces": offer_response(answer(UP, CONN, ACC) + b"\x81\x02hi", pieces=[3, 0, 17, 5]),
    "protocol_and_extension": offer_response(
        answer(b"upgrade: WebSocket", b"connection: keep-alive, upgrade", ACC,
               b"Sec-WebSocket-Protocol: superchat",
               b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover, x-foo"),
        protocols=CHAT, extensions=PMD, pieces=[7, 40]),
    "status_line_no_reason": offer_response(answer(UP, CONN, ACC, status=b"HTTP/1.1 101")),
    "http_1_0": offer_response(answer(UP, CONN, ACC, status=b"HTTP/1.0 101 Switching Protocols")),
    "status_line_bad": offer_response(answer(UP, CONN, ACC, status=b"HTTP/1.1 1010")),
    "status_404": offer_response(answer(b"Content-Length: 0", status=b"HTTP/1.1 404 Not Found") + b"body",
                                 pieces=[5, 20]),
    "status_401_long": offer_response(answer(b"WWW-Authenticate: Basic realm=" + b"r" * 60,
                                             status=b"HTTP/1.1 401 Unauthorized"), limit=120),
    "too_long": offer_response(answer(UP, CONN, ACC), limit=40),
    "limit_400": offer_response(answer(UP, CONN, ACC, b"X-Pad: " + b"p" * 200), limit=400, pieces=[64]),
    "truncated": offer_response(answer(UP, CONN, ACC)[:-1]),
    "bare_lf": offer_response(answer(UP, CONN, ACC).replace(b"\r\nConnection", b"\nConnection")),
    "obs_fold": offer_response(answer(UP, b" websocket", CONN, ACC)),
    "missing_colon": offer_response(answer(UP, b"Connection Upgrade", ACC)),
    "empty_name": offer_response(answer(UP, CONN, ACC, b": x")),
    "name_space": offer_response(answer(b"Upgrade : websocket", CONN, ACC)),
    "value_nul": offer_response(answer(UP, CONN, ACC, b"X: a\0b")),
    "value_cr": offer_response(answer(UP, CONN, ACC, b"X: a\rb")),
    "no_upgrade": offer_response(answer(b"Upgrade: h2c", CONN, ACC)),
    "no_connection": offer_response(answer(UP, b"Connection: keep-alive", ACC)),
    "accept_missing": offer_response(answer(UP, CONN)),
    "accept_twice": offer_response(answer(UP, CONN, ACC, ACC)),
    "accept_wrong_key": offer_response(answer(UP, CONN, ACC), key=bytes(16)),
    "protocol_twice": offer_response(answer(UP, CONN, ACC, b"Sec-WebSocket-Protocol: chat",
                                            b"Sec-WebSocket-Protocol: chat"), protocols=CHAT),
    "protocol_unrequested": offer_response(answer(UP, CONN, ACC, b"Sec-WebSocket-Protocol: chat")),
    "protocol_not_offered": offer_response(answer(UP, CONN, ACC, b"Sec-WebSocket-Protocol: Chat"),
                                           protocols=CHAT),
    "extensions_twice": offer_response(answer(UP, CONN, ACC, b"Sec-WebSocket-Extensions: x-foo",
                                              b"Sec-WebSocket-Extensions: x-foo"), extensions=PMD),
    "extensions_unrequested": offer_response(answer(UP, CONN, ACC, b"Sec-WebSocket-Extensions: x-foo")),
    "extension_not_offered": offer_response(answer(UP, CONN, ACC, b"Sec-WebSocket-Extensions: x-bar"),
                                            extensions=PMD),
    "request_minimal": client_request(),
    "request_full": client_request(
        host=b"[::1]:8080", path=b"/chat?room=1", protocols=CHAT, extensions=PMD,
        headers=[(b"Cookie", b"a=b; c=d"), (b"X-Forwarded-For", b"192.0.2.1"), (b"X-Empty", b"")]),
    "request_path_relative": client_request(path=b"chat"),
    "request_path_space": client_request(path=b"/a b"),
    "request_host_crlf": client_request(host=b"a\r\nX-Evil: 1"),
    "request_protocol_twice": client_request(protocols=[b"chat", b"chat"]),
    "request_protocol_not_token": client_request(protocols=[b"a,b"]),
    "request_extensions_bad": client_request(extensions=b"a,,b"),
    "request_reserved_header": client_request(headers=[(b"X-Ok", b"1"), (b"sec-websocket-key", b"x")]),
    "request_value_crlf": client_request(headers=[(b"X", b"a\r\nInjected: 1")]),
    "request_value_space": client_request(headers=[(b"X", b" a")]),
}


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        assert len(data) <= 4096, (target, name, len(data))
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("session", SESSION)
    write("echo", ECHO)
    write("session_send", SEND)
    write("handshake", HANDSHAKE)
    write("utf8", UTF8)
    write("client_handshake", CLIENT)
    sys.exit(0)
