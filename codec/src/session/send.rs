//! The sending half of a [`Session`]: frame headers and whole frames, with
//! the rules of RFC 6455 for what may be sent when.

use super::{MessageKind, Role, Session, MAX_CONTROL_PAYLOAD};
use crate::close;
use crate::frame::{self, MAX_HEADER_LEN, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG};
use crate::mask::apply_mask_copy;

/// Longest close reason: the control payload minus the 2-byte code.
const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// The frame an outgoing data header starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outgoing {
    /// The first frame of a text message.
    Text,
    /// The first frame of a binary message.
    Binary,
    /// A further frame of the open outgoing message.
    Continuation,
}

impl From<MessageKind> for Outgoing {
    fn from(kind: MessageKind) -> Self {
        match kind {
            MessageKind::Text => Outgoing::Text,
            MessageKind::Binary => Outgoing::Binary,
        }
    }
}

/// Why a frame cannot be sent. Nothing changed in the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// A close frame was already sent.
    Closed,
    /// A new message cannot start before the open one ends.
    MessageOpen,
    /// A continuation needs an open message.
    NoMessage,
    /// RSV bits that no negotiated extension claims (or on a frame that
    /// cannot carry them).
    ReservedBits,
    /// A control frame payload over 125 bytes.
    ControlTooLong,
    /// A close code that may not be sent.
    InvalidCloseCode,
    /// The output buffer is too short for the frame.
    NoRoom,
    /// A payload length of 2^63 or more, which a frame cannot carry.
    TooLong,
}

/// An encoded frame header to put right before the payload. In the client
/// role the payload must be masked with [`mask`](Self::mask) (from payload
/// offset 0), for example in place with [`crate::mask::apply_mask`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutHeader {
    bytes: [u8; MAX_HEADER_LEN],
    len: u8,
    mask: Option<[u8; 4]>,
}

impl OutHeader {
    /// The header's bytes (2 to 14).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Always false: a header has at least two bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The masking key the payload must be masked with (client role).
    pub fn mask(&self) -> Option<[u8; 4]> {
        self.mask
    }
}

impl Session {
    /// The masking key for the next frame: a fresh one in the client role.
    fn next_mask(&mut self) -> Option<[u8; 4]> {
        match &mut self.role {
            Role::Server => None,
            Role::Client(keys) => Some(keys.mask_key()),
        }
    }

    fn header(&mut self, fin: bool, rsv: u8, opcode: u8, len: u64) -> OutHeader {
        let mask = self.next_mask();
        let mut bytes = [0u8; MAX_HEADER_LEN];
        let n = frame::encode(fin, rsv, opcode, len, mask, &mut bytes);
        self.stats.frames_out = self.stats.frames_out.saturating_add(1);
        OutHeader {
            bytes,
            len: n as u8,
            mask,
        }
    }

    /// The header of an outgoing data frame of `len` payload bytes: the
    /// first frame of a message (`Text`/`Binary`) or a further one
    /// (`Continuation`), final if `fin`. `rsv` may carry only bits a
    /// negotiated extension claims ([`Config::message_rsv`](super::Config)),
    /// and only on a message's first frame.
    pub fn data_header(
        &mut self,
        frame: Outgoing,
        fin: bool,
        rsv: u8,
        len: u64,
    ) -> Result<OutHeader, SendError> {
        if self.close_sent.is_some() {
            return Err(SendError::Closed);
        }
        if len >> 63 != 0 {
            return Err(SendError::TooLong);
        }
        let kind = match (frame, self.outgoing) {
            (Outgoing::Continuation, None) => return Err(SendError::NoMessage),
            (Outgoing::Continuation, Some(kind)) => kind,
            (_, Some(_)) => return Err(SendError::MessageOpen),
            (Outgoing::Text, None) => MessageKind::Text,
            (Outgoing::Binary, None) => MessageKind::Binary,
        };
        let allowed = if frame == Outgoing::Continuation {
            0
        } else {
            self.config.message_rsv
        };
        if rsv & !allowed != 0 {
            return Err(SendError::ReservedBits);
        }
        let opcode = match frame {
            Outgoing::Continuation => OP_CONTINUATION,
            _ => kind.opcode(),
        };
        let header = self.header(fin, rsv, opcode, len);
        self.stats.bytes_out = self.stats.bytes_out.saturating_add(len);
        if fin {
            self.outgoing = None;
            self.stats.messages_out = self.stats.messages_out.saturating_add(1);
        } else {
            self.outgoing = Some(kind);
        }
        Ok(header)
    }

    /// The header of a ping (`pong == false`) or pong of `len` payload bytes.
    pub fn control_header(&mut self, pong: bool, len: usize) -> Result<OutHeader, SendError> {
        if self.close_sent.is_some() {
            return Err(SendError::Closed);
        }
        if len > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlTooLong);
        }
        let opcode = if pong { OP_PONG } else { OP_PING };
        Ok(self.header(true, 0, opcode, len as u64))
    }

    /// Write a whole data frame (header and payload, masked in the client
    /// role) at the start of `out`; returns its length. See
    /// [`data_header`](Self::data_header) for the rules.
    pub fn encode_data(
        &mut self,
        out: &mut [u8],
        frame: Outgoing,
        fin: bool,
        rsv: u8,
        payload: &[u8],
    ) -> Result<usize, SendError> {
        let masked = !self.role.is_server();
        let total = frame::header_len(payload.len() as u64, masked) + payload.len();
        if out.len() < total {
            return Err(SendError::NoRoom);
        }
        let header = self.data_header(frame, fin, rsv, payload.len() as u64)?;
        Ok(write_frame(&header, payload, out))
    }

    /// Write a ping with `payload` (at most 125 bytes); returns its length.
    pub fn encode_ping(&mut self, out: &mut [u8], payload: &[u8]) -> Result<usize, SendError> {
        self.encode_control(out, false, payload)
    }

    /// Write a pong with `payload` (at most 125 bytes); returns its length.
    pub fn encode_pong(&mut self, out: &mut [u8], payload: &[u8]) -> Result<usize, SendError> {
        self.encode_control(out, true, payload)
    }

    fn encode_control(
        &mut self,
        out: &mut [u8],
        pong: bool,
        payload: &[u8],
    ) -> Result<usize, SendError> {
        let masked = !self.role.is_server();
        if out.len() < frame::header_len(payload.len() as u64, masked) + payload.len() {
            return Err(SendError::NoRoom);
        }
        let header = self.control_header(pong, payload.len())?;
        Ok(write_frame(&header, payload, out))
    }

    /// Write our close frame: `code` with `reason` (cut at a character
    /// boundary to 123 bytes), or an empty close frame for `None`. After it
    /// nothing more can be sent. Returns its length.
    pub fn encode_close(
        &mut self,
        out: &mut [u8],
        code: Option<u16>,
        reason: &str,
    ) -> Result<usize, SendError> {
        if self.close_sent.is_some() {
            return Err(SendError::Closed);
        }
        let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
        let len = match code {
            None => 0,
            Some(code) if !close::is_valid_received_code(code) => {
                return Err(SendError::InvalidCloseCode)
            }
            Some(code) => {
                let mut end = reason.len().min(MAX_CLOSE_REASON);
                while !reason.is_char_boundary(end) {
                    end -= 1;
                }
                payload[..2].copy_from_slice(&code.to_be_bytes());
                payload[2..2 + end].copy_from_slice(&reason.as_bytes()[..end]);
                2 + end
            }
        };
        let masked = !self.role.is_server();
        if out.len() < frame::header_len(len as u64, masked) + len {
            return Err(SendError::NoRoom);
        }
        let header = self.header(true, 0, OP_CLOSE, len as u64);
        self.close_sent = Some(code);
        Ok(write_frame(&header, &payload[..len], out))
    }
}

/// Header then payload (masked with the header's key, if any) into `out`,
/// which the caller made long enough.
fn write_frame(header: &OutHeader, payload: &[u8], out: &mut [u8]) -> usize {
    let hl = header.len();
    let total = hl + payload.len();
    out[..hl].copy_from_slice(header.as_bytes());
    let dst = &mut out[hl..total];
    match header.mask {
        Some(key) => apply_mask_copy(payload, dst, key, 0),
        None => dst.copy_from_slice(payload),
    }
    total
}
