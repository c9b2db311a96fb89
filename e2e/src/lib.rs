//! Real services for end-to-end tests, started on loopback and stopped on drop.

pub mod abuse;
pub mod containerd;
pub mod cri;
pub mod hostile_peer;
pub mod images;
pub mod local_server;
pub mod mariadb;
pub mod mqtt;
pub mod otlp;
pub mod postgres;
pub mod probe;
pub mod redis;
pub mod registry;
pub mod spin_run;
pub mod test_ca;
pub mod upstream;
