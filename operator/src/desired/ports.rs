//! The app's HTTP port in its pod, which the container, its probes and the Service
//! agree on.

/// The port the app listens on inside the pod (`SPIN_HTTP_LISTEN_ADDR`).
pub const HTTP_PORT: i32 = 80;
/// Name of that port, which probes and the Service refer to.
pub const HTTP_PORT_NAME: &str = "http-app";
