//! A Redis server (RESP2) that answers the commands a client sets up with and the
//! writes an app makes as a real one would, and a read of a set with the attack.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// What the server answers `SMEMBERS` with.
#[derive(Debug, Clone, Copy)]
pub enum RedisAttack {
    /// An array of this many small integers (4 bytes each on the wire, tens of bytes
    /// each once parsed), sent whole.
    IntegerFlood(usize),
    /// Arrays nested this deep around one integer.
    DeepNesting(usize),
}

/// One command: its arguments.
fn read_command(reader: &mut BufReader<TcpStream>) -> io::Result<Vec<Vec<u8>>> {
    let mut line = String::new();
    let number = |reader: &mut BufReader<TcpStream>, line: &mut String| -> io::Result<usize> {
        line.clear();
        if reader.read_line(line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        line[1..]
            .trim()
            .parse()
            .map_err(|_| io::Error::other(format!("not a RESP command: {line:?}")))
    };
    let count = number(reader, &mut line)?;
    let mut args = Vec::with_capacity(count);
    for _ in 0..count {
        let length = number(reader, &mut line)?;
        let mut arg = vec![0; length + 2];
        reader.read_exact(&mut arg)?;
        arg.truncate(length);
        args.push(arg);
    }
    Ok(args)
}

fn attack_reply(attack: RedisAttack) -> Vec<u8> {
    match attack {
        RedisAttack::IntegerFlood(n) => {
            let mut reply = format!("*{n}\r\n").into_bytes();
            reply.extend(b":1\r\n".repeat(n));
            reply
        }
        RedisAttack::DeepNesting(depth) => [b"*1\r\n".repeat(depth), b":1\r\n".to_vec()].concat(),
    }
}

pub(super) fn answer(stream: TcpStream, attack: RedisAttack) -> io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let args = read_command(&mut reader)?;
        let name = args
            .first()
            .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase())
            .unwrap_or_default();
        let reply: Vec<u8> = match name.as_str() {
            "SMEMBERS" => attack_reply(attack),
            "INCR" | "SADD" | "DEL" | "PUBLISH" => b":1\r\n".to_vec(),
            "GET" => b"$5\r\nhello\r\n".to_vec(),
            "PING" => b"+PONG\r\n".to_vec(),
            _ => b"+OK\r\n".to_vec(),
        };
        writer.write_all(&reply)?;
    }
}
