//! Host capabilities a Spin component expects, per request.

pub mod bindings;
pub mod contained;
pub mod http_client;
pub mod key_value;
pub mod key_value_backend;
pub mod key_value_current;
pub mod limits;
pub mod mqtt;
pub mod mysql;
pub mod mysql_client;
pub mod outbound;
pub mod postgres;
pub mod postgres_client;
pub mod postgres_replies;
pub mod postgres_types;
pub mod read_budget;
pub mod redis;
pub mod redis_client;
pub mod resp_replies;
pub mod sqlite;
pub mod sqlite_db;
pub mod state;
pub mod stdio;
pub mod unsupported;
pub mod variables;
