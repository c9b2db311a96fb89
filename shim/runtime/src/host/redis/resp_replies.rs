//! What a Redis server's replies cost once parsed: followed byte by byte (RESP2 and
//! RESP3 framing, as the client library reads it) before the client sees them.
//!
//! Every value costs [`VALUE_COST`] bytes on top of its wire bytes (a 4-byte integer
//! reply `:1\r\n` becomes a 64-byte value), charged when its header arrives: an array,
//! set, push or map is charged for every element it declares at once, before the client
//! reads the header and sizes a vector for them. Aggregates nest at most [`MAX_DEPTH`]
//! deep, and lengths are numbers the client reads the same way (no other negative than
//! the null `-1`).

use crate::host::read_budget::ReplyCheck;

/// What one parsed value holds on the host besides its bytes.
pub const VALUE_COST: u64 = 64;
/// Deepest nesting of aggregates in one reply (real commands nest a few levels).
pub const MAX_DEPTH: usize = 32;
/// Longest header line whose number is read (a type byte's length or count).
const MAX_NUMBER_LINE: usize = 32;

/// Where the scanner is in the reply stream.
enum Expect {
    /// A value's type byte.
    Type,
    /// The rest of a header line holding a number (`$`, `*`, `%`, ...): its bytes so far.
    Number { kind: u8, line: Vec<u8> },
    /// The rest of a line whose text is the value (`+`, `-`, `:`, ...); `cr`: the last
    /// byte was `\r`.
    Text { cr: bool },
    /// The bytes of a bulk string and its CRLF.
    Skip(u64),
}

/// Follows one connection's replies.
pub struct RespReplies {
    expect: Expect,
    /// Elements still to come of each open aggregate, outermost first.
    open: Vec<u64>,
}

impl Default for RespReplies {
    fn default() -> Self {
        Self {
            expect: Expect::Type,
            open: Vec::new(),
        }
    }
}

impl RespReplies {
    /// A value ended: it fills a slot of the aggregate around it, which may end too.
    fn value_done(&mut self) {
        while let Some(left) = self.open.last_mut() {
            *left -= 1;
            if *left > 0 {
                return;
            }
            self.open.pop();
        }
    }

    /// A header's number arrived: what the value costs, or why it is refused.
    fn header(&mut self, kind: u8, line: &[u8]) -> Result<u64, String> {
        let n: i64 = std::str::from_utf8(line)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .ok_or_else(|| {
                format!(
                    "sent a malformed length {:?}",
                    String::from_utf8_lossy(line)
                )
            })?;
        // A value inside an aggregate was charged with it.
        let own_cost = if self.open.is_empty() { VALUE_COST } else { 0 };
        if n < -1 {
            return Err(format!("sent a negative length {n}"));
        }
        match kind {
            b'$' | b'=' | b'!' if n >= 0 => {
                self.expect = Expect::Skip(n as u64 + 2);
                return Ok(own_cost);
            }
            b'*' | b'~' | b'>' | b'%' | b'|' if n > 0 => {
                if self.open.len() >= MAX_DEPTH {
                    return Err(format!("nested replies more than {MAX_DEPTH} deep"));
                }
                let elements = match kind {
                    b'%' => (n as u64) * 2,
                    // An attribute's pairs, then the value they describe.
                    b'|' => (n as u64) * 2 + 1,
                    _ => n as u64,
                };
                self.open.push(elements);
                self.expect = Expect::Type;
                return Ok(own_cost.saturating_add(elements.saturating_mul(VALUE_COST)));
            }
            _ => {}
        }
        // A null, or an empty aggregate.
        self.expect = Expect::Type;
        self.value_done();
        Ok(own_cost)
    }
}

impl ReplyCheck for RespReplies {
    fn check(&mut self, mut bytes: &[u8]) -> Result<u64, String> {
        let mut cost = 0u64;
        while let Some((&byte, rest)) = bytes.split_first() {
            match &mut self.expect {
                Expect::Skip(left) => {
                    let n = (*left).min(bytes.len() as u64);
                    *left -= n;
                    bytes = &bytes[n as usize..];
                    if *left == 0 {
                        self.expect = Expect::Type;
                        self.value_done();
                    }
                    continue;
                }
                Expect::Type => {
                    self.expect = match byte {
                        b'$' | b'=' | b'!' | b'*' | b'~' | b'>' | b'%' | b'|' => Expect::Number {
                            kind: byte,
                            line: Vec::new(),
                        },
                        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {
                            if self.open.is_empty() {
                                cost = cost.saturating_add(VALUE_COST);
                            }
                            Expect::Text { cr: false }
                        }
                        other => return Err(format!("sent a reply of unknown type {other:#04x}")),
                    };
                }
                Expect::Text { cr } => {
                    if *cr && byte == b'\n' {
                        self.expect = Expect::Type;
                        self.value_done();
                    } else {
                        *cr = byte == b'\r';
                    }
                }
                Expect::Number { kind, line } => {
                    if byte == b'\n' && line.last() == Some(&b'\r') {
                        let (kind, mut line) = (*kind, std::mem::take(line));
                        line.pop();
                        cost = cost.saturating_add(self.header(kind, &line)?);
                    } else if line.len() >= MAX_NUMBER_LINE {
                        return Err("sent a header line too long to be a length".into());
                    } else {
                        line.push(byte);
                    }
                }
            }
            bytes = rest;
        }
        Ok(cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cost of `wire` fed in pieces of `step` bytes, or the refusal.
    fn cost_in_pieces(wire: &[u8], step: usize) -> Result<u64, String> {
        let mut replies = RespReplies::default();
        let mut cost = 0;
        for piece in wire.chunks(step) {
            cost += replies.check(piece)?;
        }
        assert!(
            matches!(replies.expect, Expect::Type) && replies.open.is_empty(),
            "a whole reply leaves the scanner between replies"
        );
        Ok(cost)
    }

    #[test]
    fn each_value_is_charged_once_however_the_bytes_arrive() {
        let replies: &[(&[u8], u64)] = &[
            (b"+OK\r\n", 1),
            (b":42\r\n", 1),
            (b"$5\r\nhe\r\no\r\n", 1),
            (b"$-1\r\n", 1),
            (b"*0\r\n", 1),
            (b"*-1\r\n", 1),
            (b"*3\r\n:1\r\n$1\r\nx\r\n*2\r\n+a\r\n_\r\n", 1 + 3 + 2),
            (b"%1\r\n+k\r\n:1\r\n", 1 + 2),
            (b"|1\r\n+ttl\r\n:3\r\n$2\r\nok\r\n", 1 + 3),
            (b">2\r\n$7\r\nmessage\r\n$1\r\nx\r\n", 1 + 2),
            (b",1.5\r\n#t\r\n(123\r\n=8\r\ntxt:some\r\n!3\r\nERR\r\n", 5),
        ];
        for (wire, values) in replies {
            for step in [1, 2, 3, 7, wire.len()] {
                assert_eq!(
                    cost_in_pieces(wire, step),
                    Ok(values * VALUE_COST),
                    "{} in pieces of {step}",
                    String::from_utf8_lossy(wire)
                );
            }
        }
    }

    #[test]
    fn a_declared_count_is_charged_before_its_elements_arrive() {
        let mut replies = RespReplies::default();
        assert_eq!(
            replies.check(b"*1000000000\r\n"),
            Ok((1 + 1_000_000_000) * VALUE_COST)
        );
        let mut replies = RespReplies::default();
        assert_eq!(
            replies.check(b"%9223372036854775807\r\n"),
            Ok(u64::MAX),
            "saturates instead of wrapping"
        );
    }

    #[test]
    fn deep_nesting_and_malformed_headers_are_refused() {
        let deep = "*1\r\n".repeat(MAX_DEPTH + 1);
        let refused = cost_in_pieces(deep.as_bytes(), 5).unwrap_err();
        assert!(refused.contains("more than 32 deep"), "{refused}");
        assert!(
            cost_in_pieces(b"$-5\r\n", 9)
                .unwrap_err()
                .contains("negative length -5")
        );
        assert!(
            cost_in_pieces(b"*abc\r\n", 9)
                .unwrap_err()
                .contains("malformed length")
        );
        assert!(
            cost_in_pieces(format!("${}\r\n", "9".repeat(40)).as_bytes(), 9)
                .unwrap_err()
                .contains("too long")
        );
        assert!(cost_in_pieces(b"?x\r\n", 9).unwrap_err().contains("0x3f"));
    }

    #[test]
    fn a_line_ends_at_crlf_as_the_client_reads_it() {
        // A lone \n inside a simple string does not end it; the next value does not
        // start there.
        assert_eq!(cost_in_pieces(b"+a\nb\r\n:1\r\n", 1), Ok(2 * VALUE_COST));
    }
}
