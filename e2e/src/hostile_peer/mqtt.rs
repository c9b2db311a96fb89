//! An MQTT broker (3.1.1) that accepts a client's connection as a real one would, then
//! answers its first publish with the attack instead of an acknowledgement.

use std::io::{self, Read, Write};
use std::net::TcpStream;

/// What the broker sends after the client's first PUBLISH.
#[derive(Debug, Clone, Copy)]
pub enum MqttAttack {
    /// A PUBLISH packet declaring the largest remaining length MQTT can encode
    /// (256 MiB - 1), whose bytes then follow for as long as the client reads.
    OversizedPacket,
}

/// Reads one packet's fixed header and body; returns its type (the high nibble).
fn read_packet(stream: &mut TcpStream) -> io::Result<u8> {
    let mut first = [0u8; 1];
    stream.read_exact(&mut first)?;
    let (mut length, mut shift) = (0usize, 0);
    loop {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte)?;
        length |= usize::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 21 {
            return Err(io::Error::other("a remaining length longer than 4 bytes"));
        }
    }
    super::read_n(stream, length)?;
    Ok(first[0] >> 4)
}

const CONNECT: u8 = 1;
const PUBLISH: u8 = 3;
const PINGREQ: u8 = 12;

pub(super) fn answer(mut stream: TcpStream, attack: MqttAttack) -> io::Result<()> {
    loop {
        match read_packet(&mut stream)? {
            // CONNACK: session not present, accepted.
            CONNECT => stream.write_all(&[0x20, 0x02, 0x00, 0x00])?,
            PINGREQ => stream.write_all(&[0xd0, 0x00])?,
            PUBLISH => {
                let MqttAttack::OversizedPacket = attack;
                // PUBLISH, QoS 0, remaining length 268,435,455.
                stream.write_all(&[0x30, 0xff, 0xff, 0xff, 0x7f])?;
                let chunk = vec![b'x'; 64 << 10];
                for _ in 0..(256 << 20) / chunk.len() {
                    stream.write_all(&chunk)?;
                }
                return Ok(());
            }
            _ => {}
        }
    }
}
