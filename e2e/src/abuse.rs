//! Hostile clients, shared by the abuse tests against `spin-run` and against a CRI
//! pod: each sends the same attack to a `host:port` and reports what came back.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::probe::{self, send_raw};

/// A POST declaring a 2 GiB body that then sends 64 MiB of it: the answer's status.
pub fn declared_2_gib_post(host: &str, port: u16) -> u16 {
    let head = format!(
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
        2u64 << 30
    );
    send_raw(host, port, head.as_bytes(), 64 << 20)
}

/// A request with 10,000 headers and one with a 1 MiB header: the two statuses (0 when
/// the server closed without answering).
pub fn header_bombs(host: &str, port: u16) -> [u16; 2] {
    let mut many = String::from("GET / HTTP/1.1\r\nhost: x\r\n");
    for i in 0..10_000 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let huge = format!(
        "GET / HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "v".repeat(1 << 20)
    );
    [
        send_raw(host, port, many.as_bytes(), 0),
        send_raw(host, port, huge.as_bytes(), 0),
    ]
}

/// `n` clients that connect and send nothing (even ones) or half a request line (odd
/// ones), held open by the caller.
pub fn idle_connections(host: &str, port: u16, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|i| {
            let mut s = TcpStream::connect((host, port)).unwrap();
            if i % 2 == 1 {
                let _ = s.write_all(b"GET / HT");
            }
            s
        })
        .collect()
}

/// `GET /` `n` times, one connection each, asserting 200: the latencies, sorted.
pub fn sorted_latencies(host: &str, port: u16, n: usize) -> Vec<Duration> {
    let mut latencies: Vec<Duration> = (0..n)
        .map(|_| {
            let started = Instant::now();
            let (status, body) = probe::get(host, port, "/").expect("an answer");
            assert_eq!(status, 200, "{body}");
            started.elapsed()
        })
        .collect();
    latencies.sort();
    latencies
}
