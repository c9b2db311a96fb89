//! A plain HTTP server standing for a service a guest calls, or a file server holding a
//! remote component source: answers every request with a fixed body and counts the
//! requests it got.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Upstream {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Upstream {
    /// Listens on `ip`, port 0 (a free one); serves until the test process ends.
    pub fn start(ip: IpAddr, body: &'static str) -> Self {
        Self::serving(ip, body.as_bytes().to_vec())
    }

    /// Like [`Upstream::start`], with any bytes as the body.
    pub fn serving(ip: IpAddr, body: Vec<u8>) -> Self {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let mut stream = reader.into_inner();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        });
        Self { addr, hits }
    }

    /// Connections accepted so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
