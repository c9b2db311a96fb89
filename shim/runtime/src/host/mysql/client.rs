//! Connections to the MySQL (and MariaDB) servers guests name, and the statements
//! Spin's MySQL interfaces run on them.
//!
//! An address is a `mysql://user:password@host[:port]/db` URL (port 3306 unless given),
//! checked against the component's `allowed_outbound_hosts` (`mysql://` entries) before
//! anything is resolved; a denied one fails with `connection-failed("address
//! mysql://host:port is not permitted")` and a log line naming the entry to add. The
//! connection is made over TCP from the app's [`crate::network::Network`] within 10 s:
//! never through a Unix socket (the client's "prefer the local socket" switch is off,
//! and a `socket` option refused, so nothing on the node's file system is reached),
//! with TLS when the address asks for it (`ssl-mode`, verified in full,
//! [`crate::host::mysql::tls_opts`]), and the server cannot read client files (`LOAD
//! DATA LOCAL INFILE` has no handler). The server is the app's choice: a
//! packet from it is at most 16 MiB, a result declares at most 65,535 columns whose
//! definitions together are at most 16 MiB (the workspace's vendored `mysql_async`,
//! `shim/vendor/mysql_async/VENDORED.md`), and one result holds at most an instance's
//! memory. A panic in the client library fails the call that met it
//! ([`crate::host::contained`]).
//! Statements run as prepared statements, so values arrive typed.

use std::sync::Arc;
use std::time::Duration;

use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Params, Value};
use tokio::sync::Mutex;

use crate::host::bindings::current::spin::mysql::mysql::{
    Column, DbDataType, DbValue, Error, ParameterValue,
};
use crate::host::contained::contained;
use crate::host::mysql::tls_opts;
use crate::host::outbound::{OutboundPolicy, shown_address};
use crate::network::Network;

/// Longest a connect (resolve, TCP, handshake and authentication) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Who fails when the library panics.
const CLIENT: &str = "the MySQL client";
/// Largest packet accepted from a server.
const MAX_PACKET: usize = 16 << 20;
/// MySQL's character set number for binary data.
const BINARY_CHARSET: u16 = 63;

/// An open connection. Every operation runs on the network the connection was made in
/// (a pod's, where its socket belongs).
pub struct MysqlConnection {
    conn: Arc<Mutex<Conn>>,
    network: Network,
}

/// Connects to `address` for a component with `policy`.
pub async fn connect(address: &str, policy: &OutboundPolicy) -> Result<MysqlConnection, Error> {
    let invalid = |e: String| Error::ConnectionFailed(format!("invalid MySQL address: {e}"));
    let (address, ssl_mode_tls) = tls_opts::split_ssl_mode(address).map_err(invalid)?;
    let opts = Opts::from_url(&address).map_err(|e| invalid(e.to_string()))?;
    let (host, port) = (opts.ip_or_hostname().to_string(), opts.tcp_port());
    let shown = shown_address("mysql", &host, port);
    let allowed = policy
        .allows_address(&shown)
        .ok_or_else(|| Error::ConnectionFailed(format!("invalid MySQL host {host:?}")))?;
    if !allowed {
        return Err(Error::ConnectionFailed(format!(
            "address {shown} is not permitted"
        )));
    }
    if opts.socket().is_some() {
        return Err(Error::ConnectionFailed(format!(
            "{shown}: a Unix socket cannot be used; connect over TCP"
        )));
    }
    let ssl_opts = (ssl_mode_tls || opts.ssl_opts().is_some())
        .then(|| tls_opts::ssl_opts(&policy.tls.for_host(&host), &host));
    let network = policy.network.clone();
    let ip = match network.resolve(&host, port).await {
        Ok(addrs) => addrs[0].ip().to_string(),
        Err(e) => return Err(Error::ConnectionFailed(format!("{shown}: {e}"))),
    };
    let opts = OptsBuilder::from_opts(opts)
        .ip_or_hostname(ip)
        .prefer_socket(false)
        .socket(None::<String>)
        .max_allowed_packet(Some(MAX_PACKET))
        .stmt_cache_size(0)
        .ssl_opts(ssl_opts);
    let connecting = network.run(contained(CLIENT, Conn::new(opts)));
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(Ok(Ok(conn)))) => Ok(MysqlConnection {
            conn: Arc::new(Mutex::new(conn)),
            network,
        }),
        Ok(Ok(Ok(Err(e)))) => Err(Error::ConnectionFailed(format!(
            "{shown}: {}",
            connect_failure(e)
        ))),
        Ok(Ok(Err(panicked))) => Err(Error::ConnectionFailed(format!("{shown}: {panicked}"))),
        Ok(Err(e)) => Err(Error::ConnectionFailed(format!("{shown}: {e}"))),
        Err(_) => Err(Error::ConnectionFailed(format!(
            "{shown}: no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

impl MysqlConnection {
    /// Runs a query: its columns and rows (all of them, at most `max_bytes` on the host).
    pub async fn query(
        &self,
        statement: String,
        params: Vec<ParameterValue>,
        max_bytes: usize,
    ) -> Result<(Vec<Column>, Vec<Vec<DbValue>>), Error> {
        let conn = self.conn.clone().lock_owned().await;
        let params = parameters(params);
        let querying = async move {
            let mut conn = conn;
            let mut result = conn
                .exec_iter(statement, params)
                .await
                .map_err(query_failed)?;
            let columns = result.columns().unwrap_or_else(|| Arc::from([]));
            let (mut rows, mut held) = (Vec::new(), 0usize);
            while let Some(row) = result.next().await.map_err(query_failed)? {
                let values = row
                    .unwrap()
                    .into_iter()
                    .zip(columns.iter())
                    .map(|(value, column)| db_value(value, column))
                    .collect::<Result<Vec<_>, _>>()?;
                held += values.iter().map(size_of).sum::<usize>();
                if held > max_bytes {
                    return Err(Error::QueryFailed(format!(
                        "the result is larger than an instance's memory ({max_bytes} bytes)"
                    )));
                }
                rows.push(values);
            }
            let columns = columns
                .iter()
                .map(|c| Column {
                    name: c.name_str().into_owned(),
                    data_type: data_type(c),
                })
                .collect();
            Ok((columns, rows))
        };
        self.network
            .run(contained(CLIENT, querying))
            .await
            .map_err(|e| Error::Other(e.to_string()))?
            .unwrap_or_else(|panicked| Err(Error::Other(panicked.to_string())))
    }

    /// Runs a statement, dropping any rows it returns.
    pub async fn execute(
        &self,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<(), Error> {
        let conn = self.conn.clone().lock_owned().await;
        let params = parameters(params);
        let executing = async move {
            let mut conn = conn;
            conn.exec_drop(statement, params)
                .await
                .map_err(query_failed)
        };
        self.network
            .run(contained(CLIENT, executing))
            .await
            .map_err(|e| Error::Other(e.to_string()))?
            .unwrap_or_else(|panicked| Err(Error::Other(panicked.to_string())))
    }
}

fn query_failed(e: mysql_async::Error) -> Error {
    Error::QueryFailed(e.to_string())
}

fn parameters(params: Vec<ParameterValue>) -> Params {
    if params.is_empty() {
        return Params::Empty;
    }
    Params::Positional(
        params
            .into_iter()
            .map(|p| match p {
                ParameterValue::Boolean(v) => Value::Int(v.into()),
                ParameterValue::Int8(v) => Value::Int(v.into()),
                ParameterValue::Int16(v) => Value::Int(v.into()),
                ParameterValue::Int32(v) => Value::Int(v.into()),
                ParameterValue::Int64(v) => Value::Int(v),
                ParameterValue::Uint8(v) => Value::UInt(v.into()),
                ParameterValue::Uint16(v) => Value::UInt(v.into()),
                ParameterValue::Uint32(v) => Value::UInt(v.into()),
                ParameterValue::Uint64(v) => Value::UInt(v),
                ParameterValue::Floating32(v) => Value::Float(v),
                ParameterValue::Floating64(v) => Value::Double(v),
                ParameterValue::Str(v) => Value::Bytes(v.into_bytes()),
                ParameterValue::Binary(v) => Value::Bytes(v),
                ParameterValue::DbNull => Value::NULL,
            })
            .collect(),
    )
}

fn is_binary(column: &mysql_async::Column) -> bool {
    column.character_set() == BINARY_CHARSET
}

/// The interface's name for a column's type.
fn data_type(column: &mysql_async::Column) -> DbDataType {
    let unsigned = column.flags().contains(ColumnFlags::UNSIGNED_FLAG);
    match (column.column_type(), unsigned) {
        (ColumnType::MYSQL_TYPE_TINY, false) => DbDataType::Int8,
        (ColumnType::MYSQL_TYPE_TINY, true) => DbDataType::Uint8,
        (ColumnType::MYSQL_TYPE_SHORT | ColumnType::MYSQL_TYPE_YEAR, false) => DbDataType::Int16,
        (ColumnType::MYSQL_TYPE_SHORT | ColumnType::MYSQL_TYPE_YEAR, true) => DbDataType::Uint16,
        (ColumnType::MYSQL_TYPE_INT24 | ColumnType::MYSQL_TYPE_LONG, false) => DbDataType::Int32,
        (ColumnType::MYSQL_TYPE_INT24 | ColumnType::MYSQL_TYPE_LONG, true) => DbDataType::Uint32,
        (ColumnType::MYSQL_TYPE_LONGLONG, false) => DbDataType::Int64,
        (ColumnType::MYSQL_TYPE_LONGLONG, true) => DbDataType::Uint64,
        (ColumnType::MYSQL_TYPE_FLOAT, _) => DbDataType::Floating32,
        (ColumnType::MYSQL_TYPE_DOUBLE, _) => DbDataType::Floating64,
        (
            ColumnType::MYSQL_TYPE_VARCHAR
            | ColumnType::MYSQL_TYPE_VAR_STRING
            | ColumnType::MYSQL_TYPE_STRING
            | ColumnType::MYSQL_TYPE_TINY_BLOB
            | ColumnType::MYSQL_TYPE_MEDIUM_BLOB
            | ColumnType::MYSQL_TYPE_LONG_BLOB
            | ColumnType::MYSQL_TYPE_BLOB,
            _,
        ) if is_binary(column) => DbDataType::Binary,
        (
            ColumnType::MYSQL_TYPE_VARCHAR
            | ColumnType::MYSQL_TYPE_VAR_STRING
            | ColumnType::MYSQL_TYPE_STRING
            | ColumnType::MYSQL_TYPE_TINY_BLOB
            | ColumnType::MYSQL_TYPE_MEDIUM_BLOB
            | ColumnType::MYSQL_TYPE_LONG_BLOB
            | ColumnType::MYSQL_TYPE_BLOB
            | ColumnType::MYSQL_TYPE_ENUM
            | ColumnType::MYSQL_TYPE_SET
            | ColumnType::MYSQL_TYPE_JSON
            | ColumnType::MYSQL_TYPE_DECIMAL
            | ColumnType::MYSQL_TYPE_NEWDECIMAL
            | ColumnType::MYSQL_TYPE_DATE
            | ColumnType::MYSQL_TYPE_TIME
            | ColumnType::MYSQL_TYPE_DATETIME
            | ColumnType::MYSQL_TYPE_TIMESTAMP,
            _,
        ) => DbDataType::Str,
        _ => DbDataType::Other,
    }
}

/// A value of `column` as the interface carries it: integers in the column's width,
/// text as `str` (dates, times and decimals too, in MySQL's own text form), binary
/// strings as `binary`.
fn db_value(value: Value, column: &mysql_async::Column) -> Result<DbValue, Error> {
    let conversion = |what: &dyn std::fmt::Display| {
        Error::ValueConversionFailed(format!("column `{}`: {what}", column.name_str()))
    };
    let int = |v: i128| -> Result<DbValue, Error> {
        let out_of_range = || conversion(&format!("{v} does not fit the column's type"));
        Ok(match data_type(column) {
            DbDataType::Int8 => DbValue::Int8(v.try_into().map_err(|_| out_of_range())?),
            DbDataType::Uint8 => DbValue::Uint8(v.try_into().map_err(|_| out_of_range())?),
            DbDataType::Int16 => DbValue::Int16(v.try_into().map_err(|_| out_of_range())?),
            DbDataType::Uint16 => DbValue::Uint16(v.try_into().map_err(|_| out_of_range())?),
            DbDataType::Int32 => DbValue::Int32(v.try_into().map_err(|_| out_of_range())?),
            DbDataType::Uint32 => DbValue::Uint32(v.try_into().map_err(|_| out_of_range())?),
            DbDataType::Uint64 => DbValue::Uint64(v.try_into().map_err(|_| out_of_range())?),
            _ => DbValue::Int64(v.try_into().map_err(|_| out_of_range())?),
        })
    };
    match value {
        Value::NULL => Ok(DbValue::DbNull),
        Value::Int(v) => int(v.into()),
        Value::UInt(v) => int(v.into()),
        Value::Float(v) => Ok(DbValue::Floating32(v)),
        Value::Double(v) => Ok(DbValue::Floating64(v)),
        Value::Bytes(bytes) if is_binary(column) => Ok(DbValue::Binary(bytes)),
        Value::Bytes(bytes) => match data_type(column) {
            DbDataType::Str => String::from_utf8(bytes)
                .map(DbValue::Str)
                .map_err(|_| conversion(&"the text is not UTF-8")),
            _ => Ok(DbValue::Unsupported),
        },
        Value::Date(..) | Value::Time(..) => Ok(DbValue::Str(
            value.as_sql(true).trim_matches('\'').to_string(),
        )),
    }
}

/// A failed connect as the user reads it; a TLS failure says what to do about it.
fn connect_failure(e: mysql_async::Error) -> String {
    let text = e.to_string();
    if text.contains("invalid peer certificate") {
        crate::tls::explain(&text)
    } else {
        text
    }
}

/// Bytes a value holds on the host, to bound a result.
fn size_of(value: &DbValue) -> usize {
    16 + match value {
        DbValue::Str(s) => s.len(),
        DbValue::Binary(b) => b.len(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_allowed_tcp_addresses_are_connected() {
        let policy = OutboundPolicy::new(
            "c",
            &["mysql://127.0.0.1:*".to_string()],
            &Default::default(),
            1 << 20,
            Network::Process,
        )
        .unwrap();
        let failure = |address: String| {
            let policy = policy.clone();
            async move {
                match connect(&address, &policy).await {
                    Err(Error::ConnectionFailed(m)) => m,
                    other => panic!("{address}: {:?}", other.map(|_| ())),
                }
            }
        };
        assert!(
            failure("mysql://u:pw@10.0.0.1/db".into())
                .await
                .contains("address mysql://10.0.0.1:3306 is not permitted")
        );
        assert!(
            failure("mysql://127.0.0.1/db?socket=/run/mysqld/mysqld.sock".into())
                .await
                .contains("Unix socket")
        );
        assert!(
            failure("nope://x".into())
                .await
                .contains("invalid MySQL address")
        );
        // Allowed, nothing listening: the message names the address, never the password.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let m = failure(format!("mysql://u:hunter2@127.0.0.1:{port}/db")).await;
        assert!(m.contains(&format!("mysql://127.0.0.1:{port}")), "{m}");
        assert!(!m.contains("hunter2"), "{m}");
    }
}
