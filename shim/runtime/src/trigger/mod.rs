//! The HTTP trigger: routing, the server, and calling guest handlers.

pub mod bounded_body;
pub mod handler;
pub mod http;
mod inbound_http;
pub mod routes;
