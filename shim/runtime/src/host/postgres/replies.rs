//! How many answers a PostgreSQL server may make the client wait for in one statement.
//!
//! The client library resolves a column or parameter type it does not know by asking
//! the server's catalogue, and resolves the types that one refers to (its element,
//! base, range subtype, fields) the same way, one nested call per level; a server that
//! describes a type as an array of itself would have it recurse until the stack
//! overflows. Every such question ends with the server's `ReadyForQuery` message, so
//! counting those messages bounds both how deep and how wide the lookups go: a
//! statement may take at most [`MAX_REPLIES_PER_STATEMENT`] of them (a statement
//! without unknown types takes two). Backend messages are framed as a type byte and a
//! 4-byte length from the first byte on, as the client is never asked to negotiate TLS.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::host::read_budget::ReplyCheck;

/// Most `ReadyForQuery` answers one statement may wait for: its own prepare and run,
/// the catalogue statements' preparation, and a lookup for each type it uses that the
/// client does not know.
pub const MAX_REPLIES_PER_STATEMENT: u32 = 64;

/// `ReadyForQuery` answers left to the statement running on a connection; a new one
/// has room for the connection's start-up.
#[derive(Clone)]
pub struct RepliesLeft(Arc<AtomicU32>);

impl Default for RepliesLeft {
    fn default() -> Self {
        Self(Arc::new(AtomicU32::new(MAX_REPLIES_PER_STATEMENT)))
    }
}

impl RepliesLeft {
    /// A statement starts: it gets the whole allowance, whatever the last one used.
    pub fn start_statement(&self) {
        self.0.store(MAX_REPLIES_PER_STATEMENT, Ordering::Relaxed);
    }

    fn take_one(&self) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// Follows a connection's backend messages.
pub struct PostgresReplies {
    left: RepliesLeft,
    /// The type byte and length of the message being read, as far as they arrived.
    header: [u8; 5],
    header_len: usize,
    /// Bytes of the current message's body still to come.
    body_left: u64,
}

impl PostgresReplies {
    pub fn new(left: RepliesLeft) -> Self {
        Self {
            left,
            header: [0; 5],
            header_len: 0,
            body_left: 0,
        }
    }
}

impl ReplyCheck for PostgresReplies {
    fn check(&mut self, mut bytes: &[u8]) -> Result<u64, String> {
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(bytes.len() as u64);
                self.body_left -= n;
                bytes = &bytes[n as usize..];
                continue;
            }
            let n = (5 - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
            self.header_len += n;
            bytes = &bytes[n..];
            if self.header_len < 5 {
                break;
            }
            self.header_len = 0;
            let length = i32::from_be_bytes(self.header[1..5].try_into().expect("4 bytes"));
            if length < 4 {
                return Err(format!("sent a message of length {length}"));
            }
            self.body_left = length as u64 - 4;
            if self.header[0] == b'Z' && !self.left.take_one() {
                return Err(format!(
                    "made one statement wait for more than {MAX_REPLIES_PER_STATEMENT} answers \
                     (type lookups that do not end: a type described in terms of itself?)"
                ));
            }
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn ready_for_query_answers_are_counted_per_statement_across_any_split() {
        let left = RepliesLeft::default();
        let mut replies = PostgresReplies::new(left.clone());
        // A data row that contains a 'Z' byte, then the answer that ends a round trip.
        let round_trip = [message(b'D', b"Z\0\0\0\x05Z"), message(b'Z', b"I")].concat();
        let wire = round_trip.repeat(MAX_REPLIES_PER_STATEMENT as usize);
        for piece in wire.chunks(3) {
            assert_eq!(replies.check(piece), Ok(0));
        }
        let refused = replies.check(&round_trip).unwrap_err();
        assert!(refused.contains("more than 64 answers"), "{refused}");

        // The next statement has its allowance again.
        left.start_statement();
        let mut replies = PostgresReplies::new(left);
        assert_eq!(replies.check(&round_trip), Ok(0));
    }

    #[test]
    fn a_length_shorter_than_itself_is_refused() {
        let mut replies = PostgresReplies::new(RepliesLeft::default());
        let refused = replies.check(b"D\0\0\0\x02").unwrap_err();
        assert!(refused.contains("length 2"), "{refused}");
    }
}
