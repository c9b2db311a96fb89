//! Servers written to attack the client that connects to them: each speaks just enough
//! of its protocol (PostgreSQL, MySQL, Redis, MQTT, HTTP) to get a connecting client to the answer
//! that hurts it. Guests name the servers they talk to, so a tenant can point the
//! runtime at one of these; the tests check that it costs only the request that did.
//!
//! A peer listens on a free loopback port and answers each connection on a thread of
//! its own until it is dropped.

mod http;
mod mqtt;
mod mysql;
mod postgres;
mod redis;

use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

pub use http::HttpAttack;
pub use mqtt::MqttAttack;
pub use mysql::MysqlAttack;
pub use postgres::PostgresAttack;
pub use redis::RedisAttack;

/// A listening hostile server; stops accepting when dropped.
pub struct HostilePeer {
    pub port: u16,
    scheme: &'static str,
    stop: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
}

impl HostilePeer {
    /// A PostgreSQL server making the attack `attack`.
    pub fn postgres(attack: PostgresAttack) -> Self {
        Self::serve("postgres", move |stream| postgres::answer(stream, attack))
    }

    /// A MySQL server making the attack `attack`.
    pub fn mysql(attack: MysqlAttack) -> Self {
        Self::serve("mysql", move |stream| mysql::answer(stream, attack))
    }

    /// A Redis server making the attack `attack`.
    pub fn redis(attack: RedisAttack) -> Self {
        Self::serve("redis", move |stream| redis::answer(stream, attack))
    }

    /// An HTTP server making the attack `attack`.
    pub fn http(attack: HttpAttack) -> Self {
        Self::serve("http", move |stream| http::answer(stream, attack))
    }

    /// An MQTT broker making the attack `attack`.
    pub fn mqtt(attack: MqttAttack) -> Self {
        Self::serve("mqtt", move |stream| mqtt::answer(stream, attack))
    }

    /// The address a guest is given (`postgres://u@127.0.0.1:PORT/db` and the like).
    pub fn address(&self) -> String {
        match self.scheme {
            "redis" | "mqtt" | "http" => format!("{}://127.0.0.1:{}", self.scheme, self.port),
            scheme => format!("{scheme}://attacker@127.0.0.1:{}/db", self.port),
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn serve(
        scheme: &'static str,
        answer: impl Fn(TcpStream) -> io::Result<()> + Send + Sync + Copy + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let (stopped, accepted) = (stop.clone(), connections.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                accepted.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    // The client hanging up mid-attack is the expected end.
                    let _ = answer(stream);
                });
            }
        });
        Self {
            port,
            scheme,
            stop,
            connections,
        }
    }
}

impl Drop for HostilePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads exactly `n` bytes.
fn read_n(stream: &mut TcpStream, n: usize) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0; n];
    stream.read_exact(&mut bytes)?;
    Ok(bytes)
}
