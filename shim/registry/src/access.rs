//! How to reach a registry: the protocol and the credentials.

use std::net::IpAddr;

use oci_client::Client;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;

/// How to reach the registry.
#[derive(Debug, Clone)]
pub struct Registry {
    /// Plain HTTP instead of HTTPS for every registry. Without it, registries on this
    /// machine's loopback (`localhost`, 127.0.0.0/8, `[::1]`) are still spoken to over
    /// plain HTTP, as Docker treats them as insecure registries by default.
    pub insecure: bool,
    pub auth: RegistryAuth,
    /// Where the credentials came from, for error messages.
    pub auth_source: String,
}

impl Registry {
    /// A client for `registry_host` (`HOST[:PORT]`).
    pub fn client(&self, registry_host: &str) -> Client {
        let protocol = if self.insecure || is_loopback(registry_host) {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        Client::new(ClientConfig {
            protocol,
            ..Default::default()
        })
    }
}

/// Whether `HOST[:PORT]` names this machine's loopback.
pub fn is_loopback(registry_host: &str) -> bool {
    let host = match registry_host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => registry_host
            .rsplit_once(':')
            .map_or(registry_host, |(host, _)| host),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_recognised() {
        for host in [
            "localhost:5000",
            "127.0.0.1:5000",
            "127.3.4.5",
            "[::1]:5000",
            "LOCALHOST",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "ghcr.io",
            "10.0.0.1:5000",
            "localhost.evil.com:5000",
            "[fe80::1]:5000",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
