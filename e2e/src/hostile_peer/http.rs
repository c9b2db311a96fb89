//! An HTTP/1.1 server that reads a request's head and answers with the attack.

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;

/// What the server answers every request with.
#[derive(Debug, Clone, Copy)]
pub enum HttpAttack {
    /// `200 OK` and then header lines, one after another, up to 256 MiB.
    EndlessHeaders,
    /// A response declaring a 4 GiB body, whose bytes follow up to 256 MiB.
    HugeBody,
}

pub(super) fn answer(stream: TcpStream, attack: HttpAttack) -> io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
    }
    let head: &[u8] = match attack {
        HttpAttack::EndlessHeaders => b"HTTP/1.1 200 OK\r\n",
        HttpAttack::HugeBody => b"HTTP/1.1 200 OK\r\nContent-Length: 4294967296\r\n\r\n",
    };
    writer.write_all(head)?;
    let chunk: Vec<u8> = match attack {
        HttpAttack::EndlessHeaders => (0..2048)
            .flat_map(|i| format!("x-flood-{i:05}: {}\r\n", "v".repeat(16)).into_bytes())
            .collect(),
        HttpAttack::HugeBody => vec![b'x'; 64 << 10],
    };
    let mut sent = 0;
    while sent < 256 << 20 {
        writer.write_all(&chunk)?;
        sent += chunk.len();
    }
    Ok(())
}
