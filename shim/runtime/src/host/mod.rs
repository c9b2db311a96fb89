//! Host capabilities a Spin component expects, per request.

pub mod bindings;
pub mod capability;
pub mod capped_table;
pub mod contained;
pub mod http_client;
pub mod key_value;
pub mod limits;
pub mod link;
pub mod mqtt;
pub mod mysql;
pub mod otel;
pub mod outbound;
pub mod postgres;
pub mod read_budget;
pub mod redis;
pub mod service_chaining;
pub mod spin_http;
pub mod sqlite;
pub mod state;
pub mod stdio;
pub mod unsupported;
pub mod variables;
