//! Connections to the PostgreSQL servers guests name, and the statements Spin's
//! PostgreSQL interfaces run on them.
//!
//! An address is a connection string as `libpq` and Spin take it
//! (`postgres://user:password@host:port/db?…` or `host=… user=…`) naming one TCP host
//! (port 5432 unless given). It is checked against the component's
//! `allowed_outbound_hosts` (`postgres://` entries) before anything is resolved; a
//! denied one fails with `connection-failed("address postgres://host:port is not
//! permitted")` and a log line naming the entry to add. The connection is made from the
//! app's [`crate::network::Network`] within 10 s. TLS follows `sslmode`: `disable`
//! connects in the clear; `prefer` (the default) asks for TLS and connects in the clear
//! only if the server says it has none; `require`, `verify-ca` and `verify-full` insist
//! on it. Whenever TLS is used the certificate is verified as `verify-full` does (chain
//! and host name, [`crate::tls`]), whatever the mode, as Spin does; a guest's
//! `set-ca-root` adds a root for that connection. `sslnegotiation=direct` starts TLS
//! without asking first (PostgreSQL 17). The server is
//! the app's choice, so it is not trusted: a connection reads at most
//! `SPIN_OUTBOUND_MAX_RESPONSE_BODY` bytes in all, one result holds at most an
//! instance's memory, and one statement may wait for at most
//! [`crate::host::postgres::replies::MAX_REPLIES_PER_STATEMENT`] answers (type lookups
//! included); statements on one connection run one at a time,
//! so each has its own allowance. A panic in the client library fails the statement
//! that met it ([`crate::host::contained`]).

// The error is the interface's own generated type (its `db-error` record makes it
// large), handed to the guest as it is.
#![allow(clippy::result_large_err)]

use std::str::FromStr;
use std::time::Duration;

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_postgres::config::{Host, SslMode, SslNegotiation};
use tokio_postgres::{Client, NoTls};

use crate::host::bindings::current::spin::postgres4_2_0::postgres::{
    Column, DbError, DbValue, Error, ParameterValue, QueryError,
};
use crate::host::contained::contained;
use crate::host::outbound::{OutboundPolicy, shown_address};
use crate::host::postgres::replies::{PostgresReplies, RepliesLeft};
use crate::host::postgres::types as postgres_types;
use crate::host::read_budget::{ReadBudget, Refusal};
use crate::network::ByteStream;
use crate::tls::TlsClient;

/// PostgreSQL's `SSLRequest`: length 8, then the request code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// Longest a connect (resolve, TCP, start-up and authentication) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An open connection: the client, and what bounds the server's answers on it.
pub struct PostgresConnection {
    client: Client,
    replies_left: RepliesLeft,
    refusal: Refusal,
    /// Held while a statement runs, so each has the whole answer allowance.
    one_at_a_time: tokio::sync::Mutex<()>,
}

/// Connects to `address` for a component with `policy`, trusting `ca_root` (PEM, the
/// guest's `set-ca-root`) besides the component's roots; the connection is driven by a
/// task of its own and closes when the returned connection is dropped.
pub async fn connect(
    address: &str,
    ca_root: Option<&str>,
    policy: &OutboundPolicy,
) -> Result<PostgresConnection, Error> {
    // Every TLS connection is verified in full, so the verifying modes are `require`.
    let address = address
        .replace("sslmode=verify-full", "sslmode=require")
        .replace("sslmode=verify-ca", "sslmode=require");
    let mut config = tokio_postgres::Config::from_str(&address)
        .map_err(|e| Error::ConnectionFailed(format!("invalid PostgreSQL address: {e}")))?;
    let host = match config.get_hosts() {
        [Host::Tcp(host)] => host.clone(),
        [Host::Tcp(_), ..] => {
            return Err(Error::ConnectionFailed(
                "only one PostgreSQL host may be named".into(),
            ));
        }
        _ => {
            return Err(Error::ConnectionFailed(
                "the PostgreSQL address must name a TCP host".into(),
            ));
        }
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let shown = shown_address("postgres", &host, port);
    let allowed = policy
        .allows_address(&shown)
        .ok_or_else(|| Error::ConnectionFailed(format!("invalid PostgreSQL host {host:?}")))?;
    if !allowed {
        return Err(Error::ConnectionFailed(format!(
            "address {shown} is not permitted"
        )));
    }
    let tls = match ca_root {
        Some(pem) => policy
            .tls
            .for_host(&host)
            .with_root_pem(pem.as_bytes())
            .map(std::sync::Arc::new)
            .map_err(|e| Error::ConnectionFailed(format!("set-ca-root: {e}")))?,
        None => policy.tls.for_host(&host),
    };
    let (mode, direct) = (
        config.get_ssl_mode(),
        config.get_ssl_negotiation() == SslNegotiation::Direct,
    );
    if direct && mode != SslMode::Require {
        return Err(Error::ConnectionFailed(
            "sslnegotiation=direct needs sslmode=require (or verify-ca, verify-full)".into(),
        ));
    }
    // TLS, when used, is set up here; the client then speaks over it in the clear.
    config.ssl_mode(SslMode::Disable);
    config.ssl_negotiation(SslNegotiation::Postgres);
    let connecting = async {
        let tcp = policy
            .network
            .connect(&host, port)
            .await
            .map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn ByteStream> = match (mode, direct) {
            (SslMode::Disable, _) => Box::new(tcp),
            (_, true) => Box::new(
                tls.connect(&host, tcp, &[b"postgresql"])
                    .await
                    .map_err(|e| e.to_string())?,
            ),
            (mode, false) => negotiate_tls(tcp, &host, &tls, mode).await?,
        };
        let replies_left = RepliesLeft::default();
        let stream = ReadBudget::checked(
            stream,
            policy.max_response_body,
            "the PostgreSQL server",
            PostgresReplies::new(replies_left.clone()),
        );
        let refusal = stream.refusal();
        let connected = contained("the PostgreSQL client", config.connect_raw(stream, NoTls))
            .await
            .map_err(|panicked| panicked.to_string())?;
        let (client, connection) = connected.map_err(|e| failure(&refusal, e).to_string())?;
        tokio::spawn(async move {
            match contained("the PostgreSQL client", connection).await {
                Ok(Err(e)) => tracing::debug!("PostgreSQL connection ended: {e}"),
                Err(panicked) => tracing::warn!("PostgreSQL connection ended: {panicked}"),
                Ok(Ok(())) => {}
            }
        });
        Ok::<_, String>(PostgresConnection {
            client,
            replies_left,
            refusal,
            one_at_a_time: tokio::sync::Mutex::new(()),
        })
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(Error::ConnectionFailed(format!("{shown}: {e}"))),
        Err(_) => Err(Error::ConnectionFailed(format!(
            "{shown}: no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// Asks the server for TLS (`SSLRequest`) and sets it up if the server agrees; a server
/// without TLS is kept in the clear only for `prefer`.
async fn negotiate_tls(
    mut tcp: tokio::net::TcpStream,
    host: &str,
    tls: &TlsClient,
    mode: SslMode,
) -> Result<Box<dyn ByteStream>, String> {
    tcp.write_all(&SSL_REQUEST)
        .await
        .map_err(|e| e.to_string())?;
    // One byte, nothing more: what follows belongs to the TLS handshake.
    match tcp.read_u8().await.map_err(|e| e.to_string())? {
        b'S' => Ok(Box::new(
            tls.connect(host, tcp, &[])
                .await
                .map_err(|e| e.to_string())?,
        )),
        b'N' if mode == SslMode::Prefer => Ok(Box::new(tcp)),
        b'N' => Err("the server does not accept TLS connections (sslmode requires TLS)".into()),
        other => Err(format!(
            "the server answered the TLS request with {:?}, not S or N",
            char::from(other)
        )),
    }
}

/// Runs a query; its rows (all of them, at most `max_bytes` on the host) with their
/// columns.
pub async fn query(
    conn: &PostgresConnection,
    statement: &str,
    params: Vec<ParameterValue>,
    max_bytes: usize,
) -> Result<(Vec<Column>, Vec<Vec<DbValue>>), Error> {
    let params = parameters(params)?;
    let _turn = conn.one_at_a_time.lock().await;
    conn.replies_left.start_statement();
    contained(
        "the PostgreSQL client",
        query_rows(conn, statement, params, max_bytes),
    )
    .await
    .unwrap_or_else(|panicked| Err(Error::Other(panicked.to_string())))
}

async fn query_rows(
    conn: &PostgresConnection,
    statement: &str,
    params: Vec<Box<dyn tokio_postgres::types::ToSql + Send + Sync>>,
    max_bytes: usize,
) -> Result<(Vec<Column>, Vec<Vec<DbValue>>), Error> {
    let failed = |e| query_failed(&conn.refusal, e);
    let prepared = conn.client.prepare(statement).await.map_err(failed)?;
    let columns = prepared
        .columns()
        .iter()
        .map(|c| Column {
            name: c.name().to_string(),
            data_type: postgres_types::data_type(c.type_()),
        })
        .collect();
    let rows = conn
        .client
        .query_raw(
            &prepared,
            params
                .iter()
                .map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync)),
        )
        .await
        .map_err(failed)?;
    let mut rows = std::pin::pin!(rows);
    let (mut out, mut held) = (Vec::new(), 0usize);
    while let Some(row) = rows.next().await {
        let row = row.map_err(failed)?;
        let values = (0..row.len())
            .map(|i| postgres_types::value(&row, i))
            .collect::<Result<Vec<_>, _>>()
            .map_err(Error::ValueConversionFailed)?;
        held += values.iter().map(postgres_types::size_of).sum::<usize>();
        if held > max_bytes {
            return Err(Error::QueryFailed(QueryError::Text(format!(
                "the result is larger than an instance's memory ({max_bytes} bytes)"
            ))));
        }
        out.push(values);
    }
    Ok((columns, out))
}

/// Runs a statement; the number of rows it changed.
pub async fn execute(
    conn: &PostgresConnection,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<u64, Error> {
    let params = parameters(params)?;
    let _turn = conn.one_at_a_time.lock().await;
    conn.replies_left.start_statement();
    let executing = conn.client.execute_raw(
        statement,
        params
            .iter()
            .map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync)),
    );
    match contained("the PostgreSQL client", executing).await {
        Ok(result) => result.map_err(|e| query_failed(&conn.refusal, e)),
        Err(panicked) => Err(Error::Other(panicked.to_string())),
    }
}

fn parameters(
    params: Vec<ParameterValue>,
) -> Result<Vec<Box<dyn tokio_postgres::types::ToSql + Send + Sync>>, Error> {
    params
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            postgres_types::parameter(p)
                .map_err(|e| Error::BadParameter(format!("parameter ${}: {e}", i + 1)))
        })
        .collect()
}

/// Why the client failed: the bound the server passed when one was, else its own error.
fn failure(refusal: &Refusal, e: tokio_postgres::Error) -> String {
    match refusal.reason() {
        Some(reason) => reason.to_string(),
        None => e.to_string(),
    }
}

/// A failed statement, with the server's error fields when it sent them.
fn query_failed(refusal: &Refusal, e: tokio_postgres::Error) -> Error {
    if let Some(reason) = refusal.reason() {
        return Error::QueryFailed(QueryError::Text(reason.to_string()));
    }
    Error::QueryFailed(match e.as_db_error() {
        Some(db) => QueryError::DbError(DbError {
            as_text: format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
            severity: db.severity().to_string(),
            code: db.code().code().to_string(),
            message: db.message().to_string(),
            detail: db.detail().map(str::to_string),
            extras: Vec::new(),
        }),
        None => QueryError::Text(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Network;

    #[tokio::test]
    async fn only_allowed_single_tcp_hosts_are_connected() {
        let policy = OutboundPolicy::new(
            "c",
            &["postgres://127.0.0.1:*".to_string()],
            &Default::default(),
            1 << 20,
            Network::Process,
        )
        .unwrap();
        let failure = |address: &'static str| {
            let policy = policy.clone();
            async move {
                match connect(address, None, &policy).await {
                    Err(Error::ConnectionFailed(m)) => m,
                    other => panic!("{address}: {:?}", other.map(|_| ())),
                }
            }
        };
        assert!(
            failure("postgres://u:pw@10.0.0.1/db")
                .await
                .contains("address postgres://10.0.0.1:5432 is not permitted")
        );
        assert!(
            failure("host=/var/run/postgresql")
                .await
                .contains("TCP host")
        );
        assert!(
            failure("host=127.0.0.1,127.0.0.2")
                .await
                .contains("one PostgreSQL host")
        );
        assert!(
            failure("postgres://127.0.0.1/db?sslnegotiation=direct")
                .await
                .contains("sslnegotiation=direct needs sslmode=require")
        );
        assert!(
            failure("not a url = =")
                .await
                .contains("invalid PostgreSQL address")
        );
        // Allowed, nothing listening: the message names the address, never the password.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address: &'static str =
            Box::leak(format!("postgres://u:hunter2@127.0.0.1:{port}/db").into_boxed_str());
        let m = failure(address).await;
        assert!(m.contains(&format!("postgres://127.0.0.1:{port}")), "{m}");
        assert!(!m.contains("hunter2"), "{m}");
    }

    /// A server answering the `SSLRequest` with `answer`, then closing.
    async fn answering(answer: u8) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 8];
            s.read_exact(&mut request).await.unwrap();
            assert_eq!(request, SSL_REQUEST);
            s.write_all(&[answer]).await.unwrap();
        });
        port
    }

    #[tokio::test]
    async fn tls_is_asked_for_and_required_as_sslmode_says() {
        let tls = TlsClient::builtin();
        let connect = |port: u16| tokio::net::TcpStream::connect(("127.0.0.1", port));
        let tcp = connect(answering(b'N').await).await.unwrap();
        let e = negotiate_tls(tcp, "db", &tls, SslMode::Require).await.err();
        assert_eq!(
            e.as_deref(),
            Some("the server does not accept TLS connections (sslmode requires TLS)")
        );
        let tcp = connect(answering(b'N').await).await.unwrap();
        assert!(
            negotiate_tls(tcp, "db", &tls, SslMode::Prefer)
                .await
                .is_ok()
        );
        // The server agrees, then fails the handshake: no fallback to the clear.
        let tcp = connect(answering(b'S').await).await.unwrap();
        let e = negotiate_tls(tcp, "db", &tls, SslMode::Prefer).await.err();
        assert!(e.unwrap().starts_with("TLS handshake failed"));
    }
}
