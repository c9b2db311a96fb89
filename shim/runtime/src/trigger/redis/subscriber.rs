//! A Redis pub/sub subscription over one connection the trigger opened (from the app's
//! network), speaking RESP2 itself so that nothing the server sends is buffered without
//! bound: a line is at most [`MAX_LINE`] bytes, an array at most [`MAX_ARRAY`]
//! elements and never nested, a bulk string at most [`MAX_LINE`] bytes except a
//! message's payload, and a payload larger than the trigger's limit is read past,
//! never held.
//! Messages are read one at a time, so a trigger that is busy (no free instance) stops
//! reading and the server sees back-pressure.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// Longest line (a type byte, a length, a status or an error text) accepted.
const MAX_LINE: u64 = 64 << 10;
/// Most elements of an array reply (pub/sub frames have three).
const MAX_ARRAY: i64 = 8;
/// Silence after which a PING is sent, and how long its answer may take after that.
pub const PING_AFTER: Duration = Duration::from_secs(30);

/// One RESP2 value, as far as pub/sub needs it.
#[derive(Debug, PartialEq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// A bulk string longer than the limit, read past; its length.
    Oversized(u64),
    Nil,
    Array(Vec<Resp>),
}

/// What the server sent a subscriber.
#[derive(Debug, PartialEq)]
pub enum Event {
    Message {
        channel: Vec<u8>,
        payload: Vec<u8>,
    },
    /// A message on `channel` larger than the limit (its length), skipped.
    Oversized {
        channel: Vec<u8>,
        length: u64,
    },
    /// A subscription confirmation, a PING answer and the like.
    Control,
}

/// Why a subscription stopped.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the server answered {command} with an error: {message}")]
    Refused {
        command: &'static str,
        message: String,
    },
    #[error("the server sent something that is not RESP2 pub/sub: {0}")]
    Protocol(String),
}

impl SubscribeError {
    /// Refusals of the credentials do not go away by reconnecting.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::Refused {
                command: "AUTH",
                ..
            }
        )
    }
}

/// A connection in subscribe mode.
pub struct Subscriber<S> {
    stream: BufReader<S>,
    max_message: u64,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Subscriber<S> {
    /// Authenticates (when `password` is set) and subscribes to `channels`.
    pub async fn start(
        stream: S,
        user: Option<&str>,
        password: Option<&str>,
        channels: &[String],
        max_message: u64,
    ) -> Result<Self, SubscribeError> {
        let mut this = Self {
            stream: BufReader::new(stream),
            max_message,
        };
        if let Some(password) = password {
            let mut args = vec!["AUTH".as_bytes()];
            args.extend(user.map(str::as_bytes));
            args.push(password.as_bytes());
            this.send(&args).await?;
            match this.read(MAX_LINE, false).await? {
                Resp::Error(message) => {
                    return Err(SubscribeError::Refused {
                        command: "AUTH",
                        message,
                    });
                }
                Resp::Simple(_) => {}
                other => return Err(SubscribeError::Protocol(format!("AUTH answered {other:?}"))),
            }
        }
        let mut args = vec!["SUBSCRIBE".as_bytes()];
        args.extend(channels.iter().map(|c| c.as_bytes()));
        this.send(&args).await?;
        for _ in channels {
            match this.next().await? {
                Event::Control => {}
                other => {
                    return Err(SubscribeError::Protocol(format!(
                        "expected a subscription confirmation, got {other:?}"
                    )));
                }
            }
        }
        Ok(this)
    }

    /// The next event; a PING goes out after [`PING_AFTER`] of silence and the
    /// connection is given up when that brings no answer either.
    pub async fn next_or_ping(&mut self) -> Result<Event, SubscribeError> {
        // Reading is only abandoned to send the PING before any byte of a frame
        // arrived (fill_buf is cancel-safe); a frame once started is read whole.
        match tokio::time::timeout(PING_AFTER, self.stream.fill_buf()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => {
                self.send(&[b"PING"]).await?;
                match tokio::time::timeout(PING_AFTER, self.stream.fill_buf()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(e.into()),
                    Err(_) => {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("no answer to PING within {} s", PING_AFTER.as_secs()),
                        )
                        .into());
                    }
                }
            }
        }
        self.next().await
    }

    async fn next(&mut self) -> Result<Event, SubscribeError> {
        match self.read(MAX_LINE, false).await? {
            Resp::Array(items) => match items.as_slice() {
                [Resp::Bulk(kind), Resp::Bulk(channel), payload] if kind == b"message" => {
                    match payload {
                        Resp::Bulk(payload) => Ok(Event::Message {
                            channel: channel.clone(),
                            payload: payload.clone(),
                        }),
                        Resp::Oversized(length) => Ok(Event::Oversized {
                            channel: channel.clone(),
                            length: *length,
                        }),
                        other => Err(SubscribeError::Protocol(format!(
                            "a message whose payload is {other:?}"
                        ))),
                    }
                }
                _ => Ok(Event::Control),
            },
            Resp::Error(message) => Err(SubscribeError::Refused {
                command: "SUBSCRIBE",
                message,
            }),
            other => Err(SubscribeError::Protocol(format!("{other:?}"))),
        }
    }

    async fn send(&mut self, args: &[&[u8]]) -> std::io::Result<()> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        let stream = self.stream.get_mut();
        stream.write_all(&out).await?;
        stream.flush().await
    }

    /// One value; a bulk string longer than `limit` is read past. `in_array`: an
    /// array element, which may not be an array itself.
    async fn read(&mut self, limit: u64, in_array: bool) -> Result<Resp, SubscribeError> {
        let line = self.line().await?;
        let (kind, rest) = line
            .split_first()
            .ok_or_else(|| SubscribeError::Protocol("an empty line".into()))?;
        let text = || String::from_utf8_lossy(rest).into_owned();
        let number = || {
            std::str::from_utf8(rest)
                .ok()
                .and_then(|t| t.parse::<i64>().ok())
                .ok_or_else(|| SubscribeError::Protocol(format!("bad length {:?}", text())))
        };
        Ok(match kind {
            b'+' => Resp::Simple(text()),
            b'-' => Resp::Error(text()),
            b':' => Resp::Int(number()?),
            b'$' => match number()? {
                -1 => Resp::Nil,
                len if len < 0 => return Err(SubscribeError::Protocol(format!("length {len}"))),
                len if len as u64 > limit => {
                    let skip = len as u64 + 2;
                    let skipped =
                        tokio::io::copy(&mut (&mut self.stream).take(skip), &mut tokio::io::sink())
                            .await?;
                    if skipped < skip {
                        return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
                    }
                    Resp::Oversized(len as u64)
                }
                len => {
                    let mut bytes = vec![0; len as usize + 2];
                    self.stream.read_exact(&mut bytes).await?;
                    if !bytes.ends_with(b"\r\n") {
                        return Err(SubscribeError::Protocol(
                            "a bulk string without CRLF".into(),
                        ));
                    }
                    bytes.truncate(len as usize);
                    Resp::Bulk(bytes)
                }
            },
            b'*' if in_array => return Err(SubscribeError::Protocol("a nested array".into())),
            b'*' => match number()? {
                -1 => Resp::Nil,
                n if !(0..=MAX_ARRAY).contains(&n) => {
                    return Err(SubscribeError::Protocol(format!(
                        "an array of {n} elements"
                    )));
                }
                n => {
                    // The third element of a pub/sub frame is the message's payload.
                    let mut items = Vec::with_capacity(n as usize);
                    for index in 0..n {
                        let limit = if index == 2 {
                            self.max_message
                        } else {
                            MAX_LINE
                        };
                        items.push(Box::pin(self.read(limit, true)).await?);
                    }
                    Resp::Array(items)
                }
            },
            other => {
                return Err(SubscribeError::Protocol(format!(
                    "unknown type byte {:?}",
                    *other as char
                )));
            }
        })
    }

    /// One CRLF-terminated line, without the CRLF, at most [`MAX_LINE`] bytes.
    async fn line(&mut self) -> Result<Vec<u8>, SubscribeError> {
        let mut line = Vec::new();
        (&mut self.stream)
            .take(MAX_LINE + 2)
            .read_until(b'\n', &mut line)
            .await?;
        if line.is_empty() {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        if !line.ends_with(b"\r\n") {
            return Err(SubscribeError::Protocol(format!(
                "a line longer than {MAX_LINE} bytes or cut short"
            )));
        }
        line.truncate(line.len() - 2);
        Ok(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A subscriber over a script of server bytes; returns it and what it sent.
    async fn scripted(
        server: &'static [u8],
        password: Option<&str>,
        max: u64,
    ) -> (
        Result<Subscriber<tokio::io::DuplexStream>, SubscribeError>,
        Vec<u8>,
    ) {
        let (ours, mut theirs) = tokio::io::duplex(1 << 20);
        theirs.write_all(server).await.unwrap();
        let sub = Subscriber::start(ours, None, password, &["ch".into()], max).await;
        let mut sent = vec![0; 4096];
        let n = tokio::time::timeout(Duration::from_millis(100), theirs.read(&mut sent))
            .await
            .map_or(0, |r| r.unwrap());
        sent.truncate(n);
        // Keep the server side open for the reads that follow.
        std::mem::forget(theirs);
        (sub, sent)
    }

    #[tokio::test]
    async fn subscribes_and_reads_messages() {
        let (sub, sent) = scripted(
            b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n\
              *3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n\
              *3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$0\r\n\r\n",
            None,
            100,
        )
        .await;
        assert_eq!(sent, b"*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n");
        let mut sub = sub.unwrap();
        assert_eq!(
            sub.next().await.unwrap(),
            Event::Message {
                channel: b"ch".to_vec(),
                payload: b"hello".to_vec()
            }
        );
        assert_eq!(
            sub.next().await.unwrap(),
            Event::Message {
                channel: b"ch".to_vec(),
                payload: vec![]
            }
        );
    }

    #[tokio::test]
    async fn oversized_messages_are_skipped_and_reading_goes_on() {
        let (sub, _) = scripted(
            b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n\
              *3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$11\r\nhello world\r\n\
              *3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nok\r\n",
            None,
            4,
        )
        .await;
        let mut sub = sub.unwrap();
        assert_eq!(
            sub.next().await.unwrap(),
            Event::Oversized {
                channel: b"ch".to_vec(),
                length: 11
            }
        );
        assert_eq!(
            sub.next().await.unwrap(),
            Event::Message {
                channel: b"ch".to_vec(),
                payload: b"ok".to_vec()
            }
        );
    }

    #[tokio::test]
    async fn a_refused_password_is_permanent() {
        let (sub, sent) = scripted(b"-WRONGPASS invalid password\r\n", Some("pw"), 100).await;
        assert_eq!(sent, b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n");
        let err = sub.err().unwrap();
        assert!(err.is_permanent(), "{err}");
        assert!(err.to_string().contains("WRONGPASS"), "{err}");
    }

    #[tokio::test]
    async fn hostile_frames_are_refused_without_buffering_them() {
        for (server, expected) in [
            (&b"*1000000\r\n"[..], "an array of 1000000 elements"),
            (b"*3\r\n*1\r\n", "a nested array"),
            (b"?\r\n", "unknown type byte"),
            (b"$-5\r\n", "length -5"),
        ] {
            let (ours, mut theirs) = tokio::io::duplex(1 << 20);
            theirs.write_all(server).await.unwrap();
            let mut sub = Subscriber {
                stream: BufReader::new(ours),
                max_message: 100,
            };
            let err = sub.next().await.unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
        // A line that never ends is cut at the limit.
        let (ours, mut theirs) = tokio::io::duplex(1 << 20);
        tokio::spawn(async move {
            let chunk = vec![b'+'; 8192];
            while theirs.write_all(&chunk).await.is_ok() {}
        });
        let mut sub = Subscriber {
            stream: BufReader::new(ours),
            max_message: 100,
        };
        let err = sub.next().await.unwrap_err().to_string();
        assert!(err.contains("longer than"), "{err}");
    }
}
