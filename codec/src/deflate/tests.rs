//! The pipeline driven as the nginx glue drives the echo: reads and sends
//! of arbitrary sizes through one [`FrameBuffer`], checked by a client-role
//! [`Session`] (which validates the server's frames) and zlib on the client
//! side.

use super::*;
use crate::buffer::FrameBuffer;
use crate::echo::process_deflate;
use crate::frame::{OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT};
use crate::session::{Config, Event, Outgoing, Role, Session};
use ngx_websocket_zlib::{Deflater, Flush, Inflater};

const CAPACITY: usize = 128 * 1024;

fn config() -> Config {
    Config {
        max_frame_len: 1 << 20,
        max_message_len: u64::MAX,
        whole_frame_max: CAPACITY - 2048,
        message_rsv: RSV1,
    }
}

fn params(takeover: bool) -> Params {
    let agreement = Agreement {
        server_no_context_takeover: !takeover,
        client_no_context_takeover: !takeover,
        server_max_window_bits: None,
        client_max_window_bits: None,
    };
    Params {
        min_length: 64,
        max_frame_len: 1 << 20,
        ..Params::server(&agreement)
    }
}

fn compress(d: &mut Deflater, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; data.len() + 1024];
    let p = d.compress(data, &mut out, Flush::Sync);
    assert_eq!(p.consumed, data.len());
    out.truncate(p.produced - 4);
    out
}

/// An echoed message: opcode, compressed, inflated payload.
type Echoed = (u8, bool, Vec<u8>);

/// The client: masks its frames; parses and inflates the server's.
struct Client {
    session: Session,
    deflater: Deflater,
    inflater: Inflater,
    takeover: bool,
}

impl Client {
    fn new(takeover: bool) -> Client {
        let config = Config {
            whole_frame_max: 0,
            max_frame_len: u64::MAX,
            ..config()
        };
        Client {
            session: Session::new(Role::client([7; 32]), config),
            deflater: Deflater::new(DeflateParams {
                level: 6,
                window_bits: 15,
                mem_level: 8,
            })
            .unwrap(),
            inflater: Inflater::new(15).unwrap(),
            takeover,
        }
    }

    /// One message as frames of at most `frame` payload bytes.
    fn message(&mut self, kind: Outgoing, data: &[u8], compressed: bool, frame: usize) -> Vec<u8> {
        let payload = if compressed {
            if !self.takeover {
                self.deflater.reset();
            }
            compress(&mut self.deflater, data)
        } else {
            data.to_vec()
        };
        let mut out = vec![0u8; payload.len() + 16 * (payload.len() / frame + 1)];
        let mut n = 0;
        let chunks: Vec<&[u8]> = if payload.is_empty() {
            vec![&[][..]]
        } else {
            payload.chunks(frame).collect()
        };
        for (i, c) in chunks.iter().enumerate() {
            let first = i == 0;
            let fin = i + 1 == chunks.len();
            let f = if first { kind } else { Outgoing::Continuation };
            let rsv = if first && compressed { RSV1 } else { 0 };
            n += self
                .session
                .encode_data(&mut out[n..], f, fin, rsv, c)
                .unwrap();
        }
        out.truncate(n);
        out
    }

    /// Messages (opcode, compressed, inflated payload) and the close code.
    fn read(&mut self, mut bytes: Vec<u8>) -> (Vec<Echoed>, Option<u16>) {
        let mut msgs = Vec::new();
        let mut current: Option<(u8, bool, Vec<u8>)> = None;
        let mut close = None;
        let mut at = 0;
        loop {
            let step = self.session.next_event(&mut bytes[at..]);
            at += step.consumed;
            let Some(event) = step.event else {
                if step.consumed == 0 {
                    break;
                }
                continue;
            };
            match event {
                Event::Data(p) => {
                    if p.message_start {
                        let op = if p.kind == crate::session::MessageKind::Text {
                            OP_TEXT
                        } else {
                            OP_BINARY
                        };
                        current = Some((op, p.rsv & RSV1 != 0, Vec::new()));
                    }
                    let m = current.as_mut().unwrap();
                    m.2.extend_from_slice(p.payload);
                    if p.message_end {
                        let (op, compressed, raw) = current.take().unwrap();
                        let data = if compressed { self.inflate(&raw) } else { raw };
                        msgs.push((op, compressed, data));
                    }
                }
                Event::Close(c) => close = c.code,
                Event::Failed(f) => panic!("server sent a bad frame: {f:?}"),
                _ => {}
            }
        }
        assert_eq!(at, bytes.len(), "whole frames");
        (msgs, close)
    }

    fn inflate(&mut self, raw: &[u8]) -> Vec<u8> {
        if !self.takeover {
            self.inflater.reset();
        }
        let mut input = raw.to_vec();
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut out = Vec::new();
        let mut chunk = vec![0u8; 65536];
        let mut at = 0;
        loop {
            let p = self.inflater.decompress(&input[at..], &mut chunk).unwrap();
            at += p.consumed;
            out.extend_from_slice(&chunk[..p.produced]);
            if at == input.len() && !p.output_full {
                return out;
            }
        }
    }
}

/// The server side, driven with reads of `read` bytes and sends of `send`.
struct Server {
    session: Session,
    buf: FrameBuffer,
    pipe: Pipeline,
    pool: Pool,
}

impl Server {
    fn new(params: Params, config: Config) -> Server {
        Server {
            session: Session::server(config),
            buf: FrameBuffer::new(CAPACITY),
            pipe: Pipeline::new(params),
            pool: Pool::new(),
        }
    }

    fn run(&mut self, input: &[u8], read: usize, send: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at = 0;
        for _ in 0..10_000_000 {
            let mut moved = false;
            if at < input.len() && self.session.is_receiving() {
                let space = self.buf.read_space();
                let n = space.len().min(read).min(input.len() - at);
                space[..n].copy_from_slice(&input[at..at + n]);
                self.buf.commit_read(n);
                at += n;
                moved |= n > 0;
            }
            let p = process_deflate(
                &mut self.session,
                &mut self.buf,
                &mut self.pipe,
                &mut self.pool,
            );
            moved |= p.consumed > 0 || p.events > 0;
            let mut sent = 0;
            for seg in self.buf.segments() {
                let n = seg.len().min(send - sent);
                out.extend_from_slice(&seg[..n]);
                sent += n;
                if sent == send {
                    break;
                }
            }
            self.buf.sent(sent);
            moved |= sent > 0;
            if !moved {
                return out;
            }
        }
        panic!("no end");
    }
}

fn json(len: usize, seed: u32) -> Vec<u8> {
    let mut s = String::from("[");
    let mut i = seed;
    while s.len() < len {
        i = i.wrapping_mul(1_103_515_245).wrapping_add(12345);
        s.push_str(&format!(
            "{{\"id\":{},\"name\":\"user{}\",\"ok\":{}}},",
            i % 100_000,
            i % 977,
            i % 2 == 0
        ));
    }
    s.truncate(len);
    s.into_bytes()
}

#[test]
fn round_trips_of_every_size_and_split() {
    for takeover in [false, true] {
        for (read, send) in [(1 << 20, 1 << 20), (1, 7), (1000, 333), (65536, 1)] {
            let sizes: &[usize] = if read == 1 || send == 1 {
                &[0, 1, 63, 64, 700, 20_000]
            } else {
                &[0, 1, 63, 64, 700, 20_000, 300_000, 1_000_000]
            };
            let mut client = Client::new(takeover);
            let mut server = Server::new(params(takeover), config());
            let mut input = Vec::new();
            let mut expect = Vec::new();
            for (i, &size) in sizes.iter().enumerate() {
                let data = json(size, i as u32);
                for compressed in [true, false] {
                    input.extend(client.message(Outgoing::Text, &data, compressed, 50_000));
                    expect.push(data.clone());
                }
            }
            let out = server.run(&input, read, send);
            let (msgs, close) = client.read(out);
            assert_eq!(close, None);
            assert_eq!(msgs.len(), expect.len(), "read {read} send {send}");
            for ((op, compressed, data), want) in msgs.iter().zip(&expect) {
                assert_eq!(*op, OP_TEXT);
                assert_eq!(data, want, "size {} read {read} send {send}", want.len());
                assert_eq!(*compressed, want.len() >= 64, "size {}", want.len());
            }
            if !takeover {
                assert!(!server.pipe.holds_memory(), "no state between messages");
            }
        }
    }
}

#[test]
fn incompressible_message_at_the_limit_is_echoed() {
    // Random bytes grow under DEFLATE: the frame is longer on the wire than
    // the 1 MiB limit, and what it carries is exactly the limit.
    let mut x = 0x2545_f491_u32;
    let data: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    let mut client = Client::new(false);
    let msg = client.message(Outgoing::Binary, &data, true, usize::MAX);
    assert!(
        msg.len() > (1 << 20) + 14,
        "grew on the wire: {}",
        msg.len()
    );
    let mut server = Server::new(params(false), config());
    let out = server.run(&msg, 1 << 20, 1 << 20);
    let (msgs, close) = client.read(out);
    assert_eq!(close, None, "{:?}", server.session.failure());
    assert_eq!(msgs.len(), 1);
    assert!(msgs[0].2 == data);
}

#[test]
fn compressed_frames_get_the_wire_slack_and_no_more() {
    use crate::session::transformed_bound;
    // Headers alone (masked, 64-bit length): the limit is checked from them.
    let header = |b0: u8, len: u64| {
        let mut h = vec![b0, 0x80 | 127];
        h.extend_from_slice(&len.to_be_bytes());
        h.extend_from_slice(&[1, 2, 3, 4]);
        h
    };
    let limit = 1u64 << 20;
    let over = transformed_bound(limit) + 1;
    let (close, reason) = failure(&header(0xc2, over), params(false), config());
    assert_eq!((close, reason), (Some(1009), Some("frame too big")));
    // At the bound the frame is taken (and waits for its payload).
    let mut server = Server::new(params(false), config());
    server.run(&header(0xc2, transformed_bound(limit)), 1 << 20, 1 << 20);
    assert!(server.session.is_receiving());
    // An uncompressed frame gets the exact limit.
    let (close, _) = failure(&header(0x82, limit + 1), params(false), config());
    assert_eq!(close, Some(1009));
}

#[test]
fn fragmented_compressed_message_with_a_ping_inside() {
    let mut client = Client::new(false);
    let data = json(5000, 3);
    let mut frames = client.message(Outgoing::Binary, &data, true, 300);
    // A ping after the first frame (its header is 2 + 4 bytes here... find
    // the end of the first frame by encoding it alone).
    let mut ping = vec![0u8; 32];
    let n = client.session.encode_ping(&mut ping, b"hi").unwrap();
    ping.truncate(n);
    let first_len = 2 + 2 + 4 + 300;
    let mut input = frames[..first_len].to_vec();
    input.extend(&ping);
    input.extend(frames.split_off(first_len));
    let mut server = Server::new(params(false), config());
    let out = server.run(&input, 77, 1 << 20);
    // The client session answers nothing; parse by hand via read().
    let (msgs, _) = client.read(out);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0], (OP_BINARY, true, data));
}

fn failure(input: &[u8], params: Params, config: Config) -> (Option<u16>, Option<&'static str>) {
    let mut server = Server::new(params, config);
    let out = server.run(input, 1 << 20, 1 << 20);
    let mut client = Client::new(false);
    let (_, close) = client.read(out);
    (close, server.session.failure().map(|f| f.reason))
}

#[test]
fn decompression_bomb_stops_at_the_frame_limit() {
    let mut client = Client::new(false);
    let zeros = vec![0u8; 10 << 20];
    let bomb = client.message(Outgoing::Binary, &zeros, true, usize::MAX);
    assert!(bomb.len() < 20_000, "{}", bomb.len());
    let (close, reason) = failure(&bomb, params(false), config());
    assert_eq!(close, Some(1009));
    assert_eq!(reason, Some("frame too big after inflation"));
    let limited = Params {
        max_frame_len: u64::MAX,
        max_message_len: 100_000,
        ..params(false)
    };
    let (close, reason) = failure(&bomb, limited, config());
    assert_eq!(close, Some(1009));
    assert_eq!(reason, Some("message too big after inflation"));
}

#[test]
fn corrupt_data_and_bad_text_fail_with_1007() {
    let mut client = Client::new(false);
    let corrupt = client.session.encode_data(
        &mut [0u8; 64],
        Outgoing::Binary,
        true,
        RSV1,
        &[0xff, 0xfe, 0xfd],
    );
    assert!(corrupt.is_ok());
    let mut buf = vec![0u8; 64];
    let mut c2 = Client::new(false);
    let n = c2
        .session
        .encode_data(&mut buf, Outgoing::Binary, true, RSV1, &[0xff, 0xfe, 0xfd])
        .unwrap();
    let (close, reason) = failure(&buf[..n], params(false), config());
    assert_eq!(
        (close, reason),
        (Some(1007), Some("corrupt compressed data"))
    );

    let bad_text = client.message(
        Outgoing::Text,
        b"caf\xc3 and more text to pass the minimum",
        true,
        1000,
    );
    let (close, reason) = failure(&bad_text, params(false), config());
    assert_eq!(
        (close, reason),
        (Some(1007), Some("invalid UTF-8 in text message"))
    );
    // A message that ends inside a block (half of a compressed message).
    let whole = compress(
        &mut Deflater::new(DeflateParams {
            level: 1,
            window_bits: 15,
            mem_level: 8,
        })
        .unwrap(),
        &json(3000, 9),
    );
    let mut half = vec![0u8; whole.len()];
    let n = Client::new(false)
        .session
        .encode_data(
            &mut half,
            Outgoing::Binary,
            true,
            RSV1,
            &whole[..whole.len() / 2],
        )
        .unwrap();
    let (close, reason) = failure(&half[..n], params(false), config());
    assert_eq!(
        (close, reason),
        (Some(1007), Some("corrupt compressed data"))
    );
    // A code point cut at the message's end.
    let cut = client.message(
        Outgoing::Text,
        b"text that ends in half a code point \xe2\x82",
        true,
        10,
    );
    let (close, _) = failure(&cut, params(false), config());
    assert_eq!(close, Some(1007));
}

#[test]
fn rsv1_where_it_is_not_allowed_is_1002() {
    let mut client = Client::new(false);
    let mut buf = vec![0u8; 64];
    // RSV1 on a continuation.
    let mut n = client
        .session
        .encode_data(&mut buf, Outgoing::Binary, false, RSV1, b"ab")
        .unwrap();
    let mut cont = [0u8; 16];
    let m = client
        .session
        .encode_data(&mut cont, Outgoing::Continuation, true, 0, b"cd")
        .unwrap();
    cont[0] |= 0x40;
    buf[n..n + m].copy_from_slice(&cont[..m]);
    n += m;
    assert_eq!(failure(&buf[..n], params(false), config()).0, Some(1002));
    // RSV1 on a ping (hand-made: the session would refuse to encode it).
    let mut ping = [0u8; 16];
    let m = client.session.encode_ping(&mut ping, b"x").unwrap();
    ping[0] |= 0x40;
    let _ = OP_PING;
    assert_eq!(failure(&ping[..m], params(false), config()).0, Some(1002));
    // RSV1 with the extension not negotiated.
    let plain = Config {
        message_rsv: 0,
        ..config()
    };
    let msg = Client::new(false).message(Outgoing::Text, b"hello hello hello", true, 100);
    assert_eq!(failure(&msg, params(false), plain).0, Some(1002));
    let _ = OP_CLOSE;
}

#[test]
fn memory_is_lent_per_message_and_pooled() {
    let mut client = Client::new(false);
    let mut server = Server::new(params(false), config());
    for i in 0..5 {
        let msg = client.message(Outgoing::Text, &json(2000, i), true, 10_000);
        let out = server.run(&msg, 1 << 20, 1 << 20);
        let (msgs, _) = client.read(out);
        assert_eq!(msgs.len(), 1);
        assert!(!server.pipe.holds_memory());
        assert_eq!(server.pool.kept(), (1, 1, 1), "the same streams reused");
    }
    let mut takeover = Server::new(params(true), config());
    let mut client = Client::new(true);
    for i in 0..5 {
        let msg = client.message(Outgoing::Text, &json(2000, i), true, 10_000);
        let out = takeover.run(&msg, 1 << 20, 1 << 20);
        let (msgs, _) = client.read(out);
        assert_eq!(msgs[0].2, json(2000, i));
        assert!(takeover.pipe.holds_memory(), "own streams kept");
        assert_eq!(takeover.pool.kept().2, 1, "scratch back in the pool");
    }
}

/// One masked frame with the given first-frame bits, payload as given.
fn raw_frame(client: &mut Client, kind: Outgoing, rsv: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; payload.len() + 16];
    let n = client
        .session
        .encode_data(&mut out, kind, true, rsv, payload)
        .unwrap();
    out.truncate(n);
    out
}

#[test]
fn blocks_may_follow_a_final_block() {
    // RFC 7692 section 7.2.3.3: "Hello" in a final block, then the empty
    // stored block's first byte (its 00 00 ff ff removed).
    let mut client = Client::new(false);
    let hello = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    let input = raw_frame(&mut client, Outgoing::Text, RSV1, &hello);
    let mut server = Server::new(
        Params {
            min_length: 0,
            ..params(false)
        },
        config(),
    );
    let out = server.run(&input, 1 << 20, 1 << 20);
    let (msgs, close) = client.read(out);
    assert_eq!(close, None, "{:?}", server.session.failure());
    assert_eq!(msgs[0].2, b"Hello");
    // A sender that ends with a final stored block (Z_FINISH) and then
    // follows RFC 7692 7.2.1: an empty stored block, 4 bytes removed.
    let data = json(3000, 5);
    let mut z = vec![0x01];
    z.extend_from_slice(&(data.len() as u16).to_le_bytes());
    z.extend_from_slice(&(!(data.len() as u16)).to_le_bytes());
    z.extend_from_slice(&data);
    z.push(0x00);
    let input = raw_frame(&mut client, Outgoing::Text, RSV1, &z);
    let mut server = Server::new(params(false), config());
    let (msgs, close) = client.read(server.run(&input, 1 << 20, 1 << 20));
    assert_eq!(close, None, "{:?}", server.session.failure());
    assert_eq!(msgs[0].2, data);
    // A final block with nothing after it leaves the appended tail inside
    // a new stored block: not whole blocks, 1007.
    let input = raw_frame(&mut client, Outgoing::Text, RSV1, &z[..z.len() - 1]);
    let (close, _) = failure(&input, params(false), config());
    assert_eq!(close, Some(1007));
}

#[test]
fn our_close_mid_message_gives_the_compressor_back() {
    let mut client = Client::new(false);
    let input = client.message(Outgoing::Text, &json(200_000, 1), true, 50_000);
    let mut server = Server::new(params(false), config());
    let space = server.buf.read_space();
    let n = space.len().min(input.len());
    space[..n].copy_from_slice(&input[..n]);
    server.buf.commit_read(n);
    process_deflate(
        &mut server.session,
        &mut server.buf,
        &mut server.pipe,
        &mut server.pool,
    );
    // Our close goes out while the echo is half sent; then the rest arrives.
    assert!(server
        .buf
        .queue_close(&mut server.session, Some(1001), "bye"));
    server.run(&input[n..], 1 << 20, 1 << 20);
    assert!(!server.pipe.is_busy());
    assert!(!server.pipe.holds_memory(), "streams back in the pool");
}

#[test]
fn a_message_left_unfinished_keeps_only_its_decompressor_once_parked() {
    let mut client = Client::new(false);
    let data = json(40_000, 8);
    // The whole message compressed, cut into a first fragment and the rest.
    if !client.takeover {
        client.deflater.reset();
    }
    let packed = compress(&mut client.deflater, &data);
    let cut = packed.len() / 2;
    let mut first = vec![0u8; cut + 16];
    let n = client
        .session
        .encode_data(&mut first, Outgoing::Text, false, RSV1, &packed[..cut])
        .unwrap();
    first.truncate(n);
    let mut server = Server::new(params(false), config());
    let mut out = server.run(&first, 1 << 20, 1 << 20);
    assert!(server.pipe.is_busy());
    assert!(server.pipe.holds_memory());
    // The peer goes quiet: the engine parks the message.
    let (session, buf, pipe, pool) = (
        &mut server.session,
        &mut server.buf,
        &mut server.pipe,
        &mut server.pool,
    );
    assert!(pipe.park(session, buf, pool).unwrap());
    // The flush goes out as room allows (the engine keeps driving a busy
    // pipeline), then the compressor is back.
    out.extend(server.run(&[], 1 << 20, 1 << 20));
    assert_eq!(
        server.pool.kept(),
        (1, 0, 1),
        "compressor and scratch back, decompressor kept"
    );
    // The rest arrives: the echo continues with a fresh compressor.
    let mut rest = vec![0u8; packed.len() - cut + 16];
    let n = client
        .session
        .encode_data(&mut rest, Outgoing::Continuation, true, 0, &packed[cut..])
        .unwrap();
    rest.truncate(n);
    out.extend(server.run(&rest, 1 << 20, 1 << 20));
    let (msgs, close) = client.read(out);
    assert_eq!(close, None, "{:?}", server.session.failure());
    assert_eq!(msgs.len(), 1);
    assert!(msgs[0].1, "compressed");
    assert!(msgs[0].2 == data, "the echo inflates to the message");
    assert!(!server.pipe.holds_memory());
}
