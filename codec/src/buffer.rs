//! One connection's I/O buffer, used in place.
//!
//! Bytes from the peer are read into a [`FrameBuffer`]; a [`Session`]
//! decodes and unmasks frames where they lie; and the frames to send are
//! built *around* the received payloads: the new (shorter) header is
//! written over the consumed old one, right before the payload, and the
//! result is sent from the same memory. Output is a list of segments of the
//! buffer, sent in order with one gathering write (`writev`), so a
//! received payload is never copied to be sent. Small frames are moved
//! down next to the previous output instead, so that many of them leave in
//! one contiguous segment; generated frames (close frames with a reason,
//! pings) go into a small side area at the end of the buffer when there is
//! no room among the consumed bytes.
//!
//! Layout of the buffer (`capacity` bytes):
//!
//! ```text
//! | output segments (consumed bytes) ... | input: start..end | free | side area |
//! 0                                      start              end    main_end   capacity
//! ```
//!
//! Pending output always lies below `start` (or in the side area), so
//! reading more input never overwrites it; the unconsumed input is moved to
//! the front only when no output is pending.
//!
//! [`Session`]: crate::session::Session

/// Bytes kept free before the input after a reset, so that the header of a
/// streamed fragment (at most 14 bytes) fits in place before its payload.
pub const HEADROOM: usize = 16;
/// The side area for generated frames and headers that do not fit in place.
pub const SIDE: usize = 1024;
/// Most output segments pending at once.
pub const SEGMENTS: usize = 64;
/// Room an event's output may need: two segments, and in the side area a
/// close frame with a reason or a header.
const EVENT_SIDE_ROOM: usize = 136;
/// Default for [`FrameBuffer::set_compact_max`].
pub const DEFAULT_COMPACT_MAX: usize = 1024;

/// Smallest payload room [`FrameBuffer::frame_room`] offers.
const ROOM_MIN: usize = 16;
/// Main-area room preferred over the side area even when the side has more.
const MAIN_ROOM_MIN: usize = 512;

/// Room for one caller-written frame: see [`FrameBuffer::frame_room`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    /// Where the payload starts.
    at: usize,
    /// Most payload bytes.
    len: usize,
    /// Header bytes kept free before `at`.
    header_max: usize,
    side: bool,
}

impl Room {
    /// Most payload bytes the room holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: a room holds at least a few bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A range of the buffer waiting to be sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Segment {
    from: usize,
    to: usize,
}

/// A connection's buffer for input and, in place, output. See the module
/// documentation.
pub struct FrameBuffer {
    data: Box<[u8]>,
    /// Unconsumed input is `data[start..end]`.
    start: usize,
    end: usize,
    /// Pending output segments, a ring: `count` of them from `first`.
    segments: [Segment; SEGMENTS],
    first: usize,
    count: usize,
    /// Bytes of pending output in all segments.
    pending: usize,
    /// End of the highest pending segment in the main area (0 if none):
    /// the lowest position new output may be written at.
    low: usize,
    /// Next free byte of the side area.
    side: usize,
    compact_max: usize,
}

impl core::fmt::Debug for FrameBuffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FrameBuffer")
            .field("capacity", &self.data.len())
            .field("input", &(self.start..self.end))
            .field("segments", &self.count)
            .field("pending", &self.pending)
            .field("low", &self.low)
            .finish_non_exhaustive()
    }
}

/// The output of an event does not fit now: send what is pending first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl FrameBuffer {
    /// A buffer of `capacity` bytes (at least `HEADROOM + SIDE + 256`; a
    /// smaller capacity is raised to that). Frames delivered whole must fit
    /// in [`max_whole_frame`](Self::max_whole_frame).
    pub fn new(capacity: usize) -> FrameBuffer {
        let capacity = capacity.max(HEADROOM + SIDE + 256);
        FrameBuffer {
            data: vec![0u8; capacity].into_boxed_slice(),
            start: HEADROOM,
            end: HEADROOM,
            segments: [Segment::default(); SEGMENTS],
            first: 0,
            count: 0,
            pending: 0,
            low: 0,
            side: capacity - SIDE,
            compact_max: DEFAULT_COMPACT_MAX,
        }
    }

    /// Frames whose payload is at most this long are moved next to the
    /// previous output rather than sent as a segment of their own. Larger
    /// values trade a copy for fewer, longer segments, which pays when each
    /// segment costs a system call or a TLS record.
    pub fn set_compact_max(&mut self, bytes: usize) {
        self.compact_max = bytes;
    }

    /// The buffer's size in bytes.
    pub fn capacity(&self) -> usize {
        self.data.len()
    }

    fn main_end(&self) -> usize {
        self.data.len() - SIDE
    }

    /// The longest frame (header and payload) the input area can hold at
    /// once: the largest `whole_frame_max` a session reading from this
    /// buffer may use.
    pub fn max_whole_frame(&self) -> usize {
        self.main_end() - HEADROOM
    }

    /// Forget all input and output, ready for another connection.
    pub fn clear(&mut self) {
        self.start = HEADROOM;
        self.end = HEADROOM;
        self.first = 0;
        self.count = 0;
        self.pending = 0;
        self.low = 0;
        self.side = self.main_end();
    }

    /// True with no input and no output: the buffer may be given back.
    pub fn is_empty(&self) -> bool {
        self.start == self.end && self.count == 0
    }

    /// The unconsumed input.
    pub fn input(&mut self) -> &mut [u8] {
        &mut self.data[self.start..self.end]
    }

    /// Bytes of unconsumed input.
    pub fn input_len(&self) -> usize {
        self.end - self.start
    }

    /// Position of the first unconsumed input byte in the buffer: a payload
    /// that a session delivered from [`input`](Self::input) with `consumed`
    /// bytes consumed ends at `input_offset() + consumed` (before
    /// [`consume`](Self::consume) is called).
    pub fn input_offset(&self) -> usize {
        self.start
    }

    /// Mark `n` input bytes consumed (at most the unconsumed input).
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }

    /// The free room after the input, where the caller reads new bytes to
    /// and then calls [`commit_read`](Self::commit_read). Empty when the
    /// buffer is full (pending output pins the consumed bytes it lies in):
    /// send first. Moves unconsumed input to the front when nothing is
    /// pending and room runs short.
    pub fn read_space(&mut self) -> &mut [u8] {
        let main_end = self.main_end();
        if self.count == 0 {
            if self.start == self.end {
                self.start = HEADROOM;
                self.end = HEADROOM;
            } else if self.start > HEADROOM && main_end - self.end < main_end / 4 {
                self.data.copy_within(self.start..self.end, HEADROOM);
                self.end -= self.start - HEADROOM;
                self.start = HEADROOM;
            }
        }
        &mut self.data[self.end..main_end]
    }

    /// `n` bytes were read into [`read_space`](Self::read_space).
    pub fn commit_read(&mut self, n: usize) {
        self.end = (self.end + n).min(self.main_end());
    }

    /// Copy `bytes` in as if read (for bytes that arrived before the buffer
    /// existed). Returns how many fit.
    pub fn push_input(&mut self, bytes: &[u8]) -> usize {
        let space = self.read_space();
        let n = bytes.len().min(space.len());
        space[..n].copy_from_slice(&bytes[..n]);
        self.commit_read(n);
        n
    }

    /// True if the output of one more event fits: call before decoding an
    /// event, since a decoded event cannot be put back.
    pub fn has_room_for_event(&self) -> bool {
        self.count + 2 <= SEGMENTS && self.data.len() - self.side >= EVENT_SIDE_ROOM
    }

    fn push_segment(&mut self, from: usize, to: usize) {
        if from == to {
            return;
        }
        if self.count > 0 {
            let last = (self.first + self.count - 1) % SEGMENTS;
            if self.segments[last].to == from {
                self.segments[last].to = to;
                self.pending += to - from;
                return;
            }
        }
        let at = (self.first + self.count) % SEGMENTS;
        self.segments[at] = Segment { from, to };
        self.count += 1;
        self.pending += to - from;
    }

    /// True if the newest segment ends at `pos` in the main area.
    fn last_ends_at(&self, pos: usize) -> bool {
        self.count > 0 && {
            let last = (self.first + self.count - 1) % SEGMENTS;
            self.segments[last].to == pos && pos <= self.main_end()
        }
    }

    /// Mutable access to consumed bytes, for an application that changes a
    /// payload in place before sending it (a client-role relay masks it).
    /// `None` unless the range is consumed input above all pending output.
    pub fn consumed_mut(&mut self, at: usize, len: usize) -> Option<&mut [u8]> {
        if at < self.low || at.checked_add(len)? > self.start {
            return None;
        }
        self.data.get_mut(at..at + len)
    }

    /// Queue a frame made of `header` and the `len` payload bytes at
    /// position `at`, which must be consumed input above all pending output
    /// (a payload a session just delivered, after [`consume`](Self::consume)).
    /// The header goes right before the payload when there is room (the
    /// consumed frame header was longer), and into the side area when not;
    /// a small frame is moved down next to the previous output.
    pub fn emit_payload(&mut self, at: usize, len: usize, header: &[u8]) -> Result<(), Full> {
        let hl = header.len();
        let end = at.checked_add(len).ok_or(Full)?;
        if at < self.low || end > self.start || self.count + 2 > SEGMENTS {
            return Err(Full);
        }
        if at >= self.low + hl {
            self.place_in_main(at, len, header);
            return Ok(());
        }
        let side = self.side;
        if self.data.len() - side < hl {
            return Err(Full);
        }
        self.data[side..side + hl].copy_from_slice(header);
        self.side += hl;
        self.push_segment(side, side + hl);
        self.push_segment(at, end);
        self.low = end;
        Ok(())
    }

    /// Queue a frame the caller encoded elsewhere (a close frame, a ping):
    /// copied among the consumed bytes after the pending output when they
    /// have room, else into the side area.
    pub fn emit_frame(&mut self, frame: &[u8]) -> Result<(), Full> {
        let n = frame.len();
        if self.count + 1 > SEGMENTS {
            return Err(Full);
        }
        let low = self.low;
        if low + n <= self.start {
            self.data[low..low + n].copy_from_slice(frame);
            self.push_segment(low, low + n);
            self.low = low + n;
            return Ok(());
        }
        let side = self.side;
        if self.data.len() - side < n {
            return Err(Full);
        }
        self.data[side..side + n].copy_from_slice(frame);
        self.side += n;
        self.push_segment(side, side + n);
        Ok(())
    }

    /// Room for one frame that the caller writes itself (a transformed
    /// payload, such as compressed output), among the consumed bytes above
    /// the pending output or, when those are short, in the side area. The
    /// payload goes to [`room_mut`](Self::room_mut) (at most
    /// [`Room::len`] bytes), then [`commit_frame`](Self::commit_frame)
    /// puts its header before it. Room for one more event (a close frame)
    /// is always kept. `None`: send first.
    pub fn frame_room(&mut self, masked: bool) -> Option<Room> {
        if self.count + 3 > SEGMENTS {
            return None;
        }
        let header_max = crate::frame::MAX_HEADER_LEN - if masked { 0 } else { 4 };
        let main = self
            .start
            .saturating_sub(self.low)
            .saturating_sub(header_max);
        let side = (self.data.len() - self.side)
            .saturating_sub(EVENT_SIDE_ROOM)
            .saturating_sub(header_max);
        let room = if main >= MAIN_ROOM_MIN || main >= side {
            Room {
                at: self.low + header_max,
                len: main,
                header_max,
                side: false,
            }
        } else {
            Room {
                at: self.side + header_max,
                len: side,
                header_max,
                side: true,
            }
        };
        (room.len >= ROOM_MIN).then_some(room)
    }

    /// Where the payload of a [`frame_room`](Self::frame_room) goes.
    pub fn room_mut(&mut self, room: &Room) -> &mut [u8] {
        &mut self.data[room.at..room.at + room.len]
    }

    /// Queue the frame written into `room`: `header`, then the first `len`
    /// bytes of the room. A small frame is moved down next to the previous
    /// output, as [`emit_payload`](Self::emit_payload) does.
    pub fn commit_frame(&mut self, room: Room, header: &[u8], len: usize) {
        let hl = header.len();
        debug_assert!(hl <= room.header_max && len <= room.len);
        let (at, end) = (room.at, room.at + len);
        if room.side {
            self.data[at - hl..at].copy_from_slice(header);
            self.push_segment(at - hl, end);
            self.side = end;
            return;
        }
        self.place_in_main(at, len, header);
    }

    /// Queue `header` and the `len` payload bytes at `at` in the main area
    /// (with room for the header before `at`, above the pending output):
    /// the header in front of the payload, or, for a small frame, both
    /// moved down next to the previous output.
    fn place_in_main(&mut self, at: usize, len: usize, header: &[u8]) {
        let (hl, end, low) = (header.len(), at + len, self.low);
        if len <= self.compact_max && self.last_ends_at(low) && at > low + hl {
            self.data.copy_within(at..end, low + hl);
            self.data[low..low + hl].copy_from_slice(header);
            self.push_segment(low, low + hl + len);
            self.low = low + hl + len;
        } else {
            self.data[at - hl..at].copy_from_slice(header);
            self.push_segment(at - hl, end);
            self.low = end;
        }
    }

    /// Encode `session`'s close frame (see
    /// [`Session::encode_close`](crate::session::Session::encode_close)) and
    /// queue it. False, with nothing changed, if a close was sent already
    /// or there is no room now (send, then try again).
    pub fn queue_close(
        &mut self,
        session: &mut crate::session::Session,
        code: Option<u16>,
        reason: &str,
    ) -> bool {
        if !self.has_room_for_event() {
            return false;
        }
        let mut frame = [0u8; crate::session::MAX_CONTROL_FRAME];
        match session.encode_close(&mut frame, code, reason) {
            Ok(n) => self.emit_frame(&frame[..n]).is_ok(),
            Err(_) => false,
        }
    }

    /// Encode a ping with `payload` (at most 125 bytes) and queue it. False,
    /// with nothing changed, after a close or without room.
    pub fn queue_ping(&mut self, session: &mut crate::session::Session, payload: &[u8]) -> bool {
        if !self.has_room_for_event() {
            return false;
        }
        let mut frame = [0u8; crate::session::MAX_CONTROL_FRAME];
        match session.encode_ping(&mut frame, payload) {
            Ok(n) => self.emit_frame(&frame[..n]).is_ok(),
            Err(_) => false,
        }
    }

    /// True while output waits to be sent.
    pub fn has_output(&self) -> bool {
        self.count > 0
    }

    /// Bytes of output waiting to be sent.
    pub fn output_len(&self) -> usize {
        self.pending
    }

    /// The pending output, in order, as up to `out.len()` slices (for a
    /// gathering write); returns how many were filled.
    pub fn output<'a>(&'a self, out: &mut [&'a [u8]]) -> usize {
        let n = self.count.min(out.len());
        for (i, slot) in out.iter_mut().take(n).enumerate() {
            let s = self.segments[(self.first + i) % SEGMENTS];
            *slot = &self.data[s.from..s.to];
        }
        n
    }

    /// The pending output, in order, one slice a segment (for a gathering
    /// write that builds its own vector).
    pub fn segments(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.count).map(move |i| {
            let s = self.segments[(self.first + i) % SEGMENTS];
            &self.data[s.from..s.to]
        })
    }

    /// `n` bytes of output were sent (at most [`output_len`](Self::output_len)).
    pub fn sent(&mut self, mut n: usize) {
        while n > 0 && self.count > 0 {
            let s = &mut self.segments[self.first];
            let len = s.to - s.from;
            if n < len {
                s.from += n;
                self.pending -= n;
                return;
            }
            n -= len;
            self.pending -= len;
            self.first = (self.first + 1) % SEGMENTS;
            self.count -= 1;
        }
        if self.count == 0 {
            self.first = 0;
            self.pending = 0;
            self.low = 0;
            self.side = self.main_end();
            if self.start == self.end {
                self.start = HEADROOM;
                self.end = HEADROOM;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_output(b: &FrameBuffer) -> Vec<u8> {
        let mut slices = [&[][..]; SEGMENTS];
        let n = b.output(&mut slices);
        slices[..n].concat()
    }

    #[test]
    fn in_place_header_and_send() {
        let mut b = FrameBuffer::new(4096);
        // A "frame" of 8 header bytes and 2000 payload bytes.
        let mut frame = vec![0xAAu8; 8];
        frame.extend(std::iter::repeat(7u8).take(2000));
        assert_eq!(b.push_input(&frame), frame.len());
        let at = b.input_offset() + 8;
        b.consume(frame.len());
        b.emit_payload(at, 2000, &[1, 2, 3, 4]).unwrap();
        let out = all_output(&b);
        assert_eq!(&out[..4], &[1, 2, 3, 4]);
        assert_eq!(out.len(), 2004);
        assert!(out[4..].iter().all(|&x| x == 7));
        assert_eq!(b.output_len(), 2004);
        b.sent(1000);
        assert_eq!(b.output_len(), 1004);
        b.sent(1004);
        assert!(b.is_empty());
    }

    #[test]
    fn small_frames_are_compacted_into_one_segment() {
        let mut b = FrameBuffer::new(4096);
        for i in 0..10u8 {
            // 6-byte header, 3-byte payload.
            let mut f = vec![0xEE; 6];
            f.extend_from_slice(&[i, i, i]);
            b.push_input(&f);
            let at = b.input_offset() + 6;
            b.consume(9);
            b.emit_payload(at, 3, &[0x82, 3]).unwrap();
        }
        let mut slices = [&[][..]; SEGMENTS];
        assert_eq!(b.output(&mut slices), 1, "one contiguous segment");
        let out = all_output(&b);
        assert_eq!(out.len(), 50);
        for i in 0..10u8 {
            assert_eq!(&out[i as usize * 5..][..5], &[0x82, 3, i, i, i]);
        }
    }

    #[test]
    fn header_without_room_goes_to_the_side_area() {
        let mut b = FrameBuffer::new(4096);
        b.set_compact_max(0);
        b.push_input(&[9u8; 100]);
        let base = b.input_offset();
        // First piece: 40 bytes consumed, emitted with a 2-byte header.
        b.consume(40);
        b.emit_payload(base + 10, 30, &[1, 2]).unwrap();
        // The next piece starts right after: no room for its header.
        b.consume(60);
        b.emit_payload(base + 40, 60, &[3, 4]).unwrap();
        let out = all_output(&b);
        assert_eq!(out.len(), 2 + 30 + 2 + 60);
        assert_eq!(&out[..2], &[1, 2]);
        assert_eq!(&out[32..34], &[3, 4]);
    }

    #[test]
    fn input_moves_only_when_no_output_is_pending() {
        let mut b = FrameBuffer::new(4096);
        let cap = b.read_space().len();
        b.commit_read(cap);
        // Everything but the last 100 bytes consumed; output pending.
        b.consume(cap - 100);
        let at = b.input_offset() - 10;
        b.emit_payload(at, 10, &[0x82, 10]).unwrap();
        assert_eq!(b.read_space().len(), 0, "pinned by pending output");
        let pending = b.output_len();
        b.sent(pending);
        assert_eq!(b.input_len(), 100);
        assert_eq!(b.read_space().len(), cap - 100);
        assert_eq!(b.input_offset(), HEADROOM);
    }

    #[test]
    fn emit_frame_uses_consumed_room_then_side() {
        let mut b = FrameBuffer::new(4096);
        b.push_input(&[0u8; 300]);
        b.consume(300);
        b.emit_frame(&[0x88, 0]).unwrap();
        b.emit_frame(&[0x89, 0]).unwrap();
        let mut slices = [&[][..]; SEGMENTS];
        assert_eq!(b.output(&mut slices), 1);
        // No consumed room left for 500 bytes: side area (twice fails).
        b.emit_frame(&[1u8; 500]).unwrap();
        b.emit_frame(&[2u8; 500]).unwrap();
        assert_eq!(b.emit_frame(&[3u8; 500]), Err(Full));
        assert_eq!(b.output_len(), 1004);
    }

    #[test]
    fn refuses_ranges_it_does_not_own() {
        let mut b = FrameBuffer::new(4096);
        b.push_input(&[0u8; 100]);
        let base = b.input_offset();
        // Not consumed yet.
        assert_eq!(b.emit_payload(base + 10, 10, &[0, 0]), Err(Full));
        b.consume(50);
        assert_eq!(b.emit_payload(base + 40, 20, &[0, 0]), Err(Full));
        assert!(b.consumed_mut(base + 40, 20).is_none());
        assert!(b.consumed_mut(base, 50).is_some());
        assert!(b.consumed_mut(usize::MAX, 2).is_none());
    }
}
