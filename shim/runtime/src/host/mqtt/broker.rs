//! Where an MQTT client connects: a broker address as an app names it
//! (`mqtt://host[:port]`, or `mqtts://host[:port]` for TLS) and the client options that
//! dial it from the app's network.
//!
//! The address is resolved here, as the app's network resolves names, and the client
//! dials the IP it got (its own resolver would use the node's). Over TLS the broker's
//! certificate is checked against the host the app named, with the roots `client_tls`
//! gives that host; the handshake itself carries no server name (SNI), because the
//! client names it after the IP it dials, so a broker that picks its certificate by SNI
//! shows its default one. TLS is served to brokers with an IPv4 address.

use std::net::SocketAddr;

use rumqttc::{MqttOptions, TlsConfiguration, Transport};

use crate::host::outbound::shown_address;
use crate::network::Network;
use crate::tls::TlsClient;

/// A broker to connect to.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerAddress {
    /// Without brackets for an IPv6 literal.
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl BrokerAddress {
    /// An `mqtt://` or `mqtts://` URL's broker (ports 1883 and 8883 unless given).
    pub fn parse(url: &url::Url) -> Result<Self, &'static str> {
        let (tls, default_port) = match url.scheme() {
            "mqtt" => (false, 1883),
            "mqtts" => (true, 8883),
            _ => return Err("only mqtt://host[:port] and mqtts://host[:port] are served"),
        };
        let host = url
            .host_str()
            .ok_or("the address has no host")?
            .trim_matches(|c| c == '[' || c == ']')
            .to_string();
        if tls {
            crate::tls::server_name(&host)
                .map_err(|_| "the host is not a name a TLS certificate can carry")?;
        }
        Ok(Self {
            host,
            port: url.port().unwrap_or(default_port),
            tls,
        })
    }

    /// `mqtt://host:port` or `mqtts://host:port`, as checks and messages name it.
    pub fn shown(&self) -> String {
        shown_address(
            if self.tls { "mqtts" } else { "mqtt" },
            &self.host,
            self.port,
        )
    }

    /// Client options that dial the broker's address on `network`, over TLS with `tls`
    /// when the address asks for it.
    pub async fn options(
        &self,
        client_id: String,
        network: &Network,
        tls: &TlsClient,
    ) -> Result<MqttOptions, String> {
        let addrs = network
            .resolve(&self.host, self.port)
            .await
            .map_err(|e| e.to_string())?;
        let dialed = if self.tls {
            // The client turns the dialed address into the handshake's name, which an
            // IPv6 literal in brackets is not.
            addrs.iter().find(|a| a.is_ipv4()).ok_or_else(|| {
                format!(
                    "{} has no IPv4 address; MQTT over TLS is served over IPv4 only",
                    self.host
                )
            })?
        } else {
            &addrs[0]
        };
        let broker = match dialed {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        let mut options = MqttOptions::new(client_id, broker, self.port);
        if self.tls {
            let config = tls.config_for_named_host(&self.host)?;
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(config)));
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BrokerAddress, &'static str> {
        BrokerAddress::parse(&url::Url::parse(text).unwrap())
    }

    #[test]
    fn the_scheme_says_tls_and_the_default_port() {
        let clear = parse("mqtt://broker").unwrap();
        assert_eq!((clear.port, clear.tls), (1883, false));
        assert_eq!(clear.shown(), "mqtt://broker:1883");
        let tls = parse("mqtts://[::1]:9000").unwrap();
        assert_eq!((tls.host.as_str(), tls.port, tls.tls), ("::1", 9000, true));
        assert_eq!(tls.shown(), "mqtts://[::1]:9000");
        assert_eq!(parse("mqtts://broker").unwrap().port, 8883);
        assert!(parse("ws://broker").unwrap_err().contains("mqtts://"));
    }

    #[tokio::test]
    async fn tls_dials_an_ipv4_address() {
        let tls = TlsClient::builtin();
        let options = parse("mqtts://127.0.0.1:8884")
            .unwrap()
            .options("id".into(), &Network::Process, &tls)
            .await
            .unwrap();
        assert_eq!(options.broker_address(), ("127.0.0.1".to_string(), 8884));
        assert!(matches!(options.transport(), Transport::Tls(_)));
        let refused = parse("mqtts://[::1]:8884")
            .unwrap()
            .options("id".into(), &Network::Process, &tls)
            .await
            .unwrap_err();
        assert!(refused.contains("IPv4 only"), "{refused}");
    }
}
