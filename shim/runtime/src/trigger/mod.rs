//! The HTTP trigger: the server and calling guest handlers (routing is Spin's, in
//! [`spin_app::routes`]).

pub mod bounded_body;
pub mod handler;
pub mod http;
mod inbound_http;
mod wasi_http_p3;
