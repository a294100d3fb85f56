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


# session_split: byte 0 = whole(0-1) | max_payload(2-4) << 2 | out slack(5-6)
# << 5 | script << 7; byte 1 = in slack(0-1) | nops << 2.
WHOLE = {256: 0, 300: 1, 1024: 2, 16384: 3}
MAXP = {"inf": 0, 0: 1, 125: 2, 126: 3, 1000: 4, 65535: 5, 65536: 6, 1 << 20: 7}


def read(n):  # 1..=64
    return n - 1


def read61(k):  # k * 61 bytes, k in 1..=64
    return 0x40 | (k - 1)


def drain(k):  # k * 37 bytes; None: everything
    return 0xBF if k is None else 0x80 | k


def ping(k):  # payload of k * 3 bytes
    return 0xC0 | k


def session(whole=256, maxp="inf", out_slack=0, in_slack=0, ops=(), body=b"", script=False):
    b0 = WHOLE[whole] | MAXP[maxp] << 2 | out_slack << 5 | (0x80 if script else 0)
    b1 = in_slack | len(ops) << 2
    return bytes([b0, b1]) + bytes(ops) + body


def rec(b0, payload=b"", unmasked=False, key=0x11):
    """Script record with a literal payload (<= 125 bytes)."""
    assert len(payload) <= 125
    return bytes([b0, (0x80 if unmasked else 0) | len(payload), key]) + payload


def gen(b0, length, pattern, wide=False, key=0x22):
    """Script record with a generated payload: 16-bit or 24-bit length."""
    code = 127 if wide else 126
    ln = struct.pack(">I", length)[1:] if wide else struct.pack(">H", length)
    return bytes([b0, code, key]) + ln + bytes([len(pattern) - 1]) + pattern


SLOW = [read(1), drain(None)]
CHOPPY = [read(3), ping(2), read(7), drain(5), read(64), drain(None), read61(2), ping(50)]

TEXT = "h\u00e9llo \u20ac \U0001F600".encode()

SESSION = {
    "hello_at_once": session(body=fin(1, b"Hello")),
    "hello_bytewise": session(ops=SLOW, body=fin(1, b"Hello")),
    "fragmented_with_ping": session(
        ops=CHOPPY, body=part(1, b"Hel") + fin(9, b"ping!") + fin(0, b"lo") + close(1000, b"bye")),
    "utf8_across_fragments": session(
        ops=[read(2), drain(3)], body=part(1, TEXT[:8]) + part(0, TEXT[8:13]) + fin(0, TEXT[13:])),
    "binary_256": session(whole=1024, body=fin(2, bytes(range(256))) + close(1001)),
    "empty_frames": session(body=fin(1, b"") + fin(2, b"") + part(1, b"") + fin(0, b"") + fin(8, b"")),
    "non_minimal_lengths": session(body=fin(2, b"abc", kind=16) + fin(1, b"xyz", kind=64) + fin(9, b"p", kind=64)),
    "pings_and_pongs": session(ops=CHOPPY, body=fin(9, b"") + fin(10, b"x") + fin(9, b"a" * 125) + fin(1, b"ok")),
    "invalid_utf8": session(body=fin(1, b"ab\xc3\x28")),
    "incomplete_utf8_at_fin": session(body=part(1, b"\xe2\x82") + fin(0, b"")),
    "surrogate": session(body=fin(1, b"\xed\xa0\x80")),
    "close_codes": session(body=close(4999, "d\u00e9j\u00e0".encode())),
    "close_1005": session(body=close(1005)),
    "close_1_byte": session(body=fin(8, b"\x03")),
    "close_bad_reason": session(body=close(1000, b"\xff")),
    "unmasked": session(body=fin(1, b"hi", mask=None)),
    "rsv_bits": session(body=frame(0xC1, b"hi")),
    "unknown_opcode": session(body=fin(3, b"")),
    "control_too_long": session(body=fin(9, b"x" * 126)),
    "fragmented_ping": session(body=part(9, b"")),
    "orphan_continuation": session(body=fin(0, b"x")),
    "text_inside_message": session(body=part(1, b"a") + fin(1, b"b")),
    "top_bit_length": session(body=bytes([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1])),
    "too_big": session(maxp=125, body=fin(2, b"z" * 125) + fin(2, b"z" * 126)),
    "streamed_raw_300": session(whole=256, out_slack=1, ops=[read(50), drain(3), ping(1)],
                                body=part(2, bytes(range(256)) * 2) + fin(0, b"end")),
    "truncated_whole": session(body=fin(1, b"x" * 100)[:50]),
    "truncated_header": session(body=fin(1, b"x" * 300)[:3]),
    # Frame scripts: large frames described compactly.
    "script_big_text": session(whole=256, ops=CHOPPY, script=True,
                               body=gen(0x81, 5000, "\u00e9\u20ac".encode())),
    "script_big_text_16k": session(whole=16384, in_slack=2, out_slack=2, ops=[read61(64), drain(20)], script=True,
                                   body=gen(0x81, 40000, "\U0001F600a".encode(), wide=True) + rec(0x88, b"\x03\xe8")),
    "script_streamed_fragments": session(whole=300, ops=SLOW, script=True,
                                         body=gen(0x01, 701, "\u20ac".encode()) + rec(0x89, b"pi")
                                         + gen(0x80, 703, b"\xac\xe2\x82", wide=True)),
    "script_streamed_bad_utf8": session(whole=256, ops=[read61(3), drain(None)], script=True,
                                        body=gen(0x01, 900, b"abc") + gen(0x80, 900, b"abcdefg\xff")),
    "script_streamed_incomplete_fin": session(whole=256, ops=[read(40)], script=True,
                                              body=gen(0x81, 1001, "\u20ac".encode())),
    "script_big_binary_limit": session(whole=1024, maxp=65535, ops=CHOPPY, script=True,
                                       body=gen(0x82, 65535, b"\x00\xff") + gen(0x82, 65536, b"x", wide=True)),
    "script_truncated_stream": session(whole=256, ops=[read(10), drain(1)], script=True,
                                       body=gen(0x82, 3000, b"q") + rec(0x81, b"tail")[:5]),
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


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        assert len(data) <= 4096, (target, name, len(data))
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("session_split", SESSION)
    write("handshake", HANDSHAKE)
    write("utf8", UTF8)
    sys.exit(0)
