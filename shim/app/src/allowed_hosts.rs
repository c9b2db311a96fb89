//! `allowed_outbound_hosts`: which network destinations a component may reach.
//!
//! Each entry is `<scheme>://<host>[:<port>]`, as in Spin:
//! - scheme: a name (`https`) or `*`;
//! - host: a name (`api.example.com`), `*`, `*.example.com` (any subdomain), an IP
//!   address or CIDR range (`10.0.0.0/8`), or `self` (the app itself, reached as
//!   `http://self/…`; `self.alt` is the same entry);
//! - port: a number, a range `8000..8080` (end excluded), `*`, or omitted for the
//!   scheme's well-known port (http 80, https 443, redis 6379, postgres 5432, mysql
//!   3306, mqtt 1883; beyond Spin, which wants a port for these: rediss 6379 and mqtts
//!   8883, the ports their clients default to).

use std::net::IpAddr;

/// One parsed `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    ports: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Itself,
    Name(String),
    /// `.example.com` for `*.example.com`.
    Subdomain(String),
    Network(IpAddr, u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    One(u16),
    Range(u16, u16),
}

/// Well-known port of a scheme, used when an entry or a URL leaves the port out.
pub fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "http" => 80,
        "https" => 443,
        "redis" => 6379,
        "postgres" => 5432,
        "mysql" => 3306,
        "mqtt" => 1883,
        "rediss" => 6379,
        "mqtts" => 8883,
        _ => return None,
    })
}

const FORMAT_HELP: &str = "entries look like `https://api.example.com`, `http://localhost:3000`, \
    `https://*.example.com`, `*://*:*` (everything) or `http://self`";

impl AllowedHost {
    /// Parses one entry; the error explains the expected form.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let text = entry.trim();
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(format!("{entry:?} has no scheme: {FORMAT_HELP}"));
        };
        let scheme = match scheme {
            "*" => None,
            s if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphabetic()) => {
                Some(s.to_ascii_lowercase())
            }
            _ => {
                return Err(format!(
                    "{entry:?} has an invalid scheme {scheme:?}: {FORMAT_HELP}"
                ));
            }
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') && !looks_like_cidr(rest) {
            return Err(format!(
                "{entry:?} has a path; entries name hosts only: {FORMAT_HELP}"
            ));
        }
        let (host, port) = split_host_port(rest);
        let host = parse_host(host).map_err(|why| format!("{entry:?}: {why}: {FORMAT_HELP}"))?;
        let ports = match port {
            None => {
                let known = scheme.as_deref().and_then(default_port).ok_or_else(|| {
                    format!(
                        "{entry:?} has no port and its scheme has no well-known port; \
                         add one, like `:8080` or `:*`"
                    )
                })?;
                PortPattern::One(known)
            }
            Some("*") => PortPattern::Any,
            Some(p) => parse_ports(p).map_err(|why| format!("{entry:?}: {why}"))?,
        };
        Ok(Self {
            scheme,
            host,
            ports,
        })
    }

    /// Whether a request to `scheme://host:port` is allowed by this entry.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        if self.scheme.as_deref().is_some_and(|s| s != scheme) {
            return false;
        }
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Itself => host.eq_ignore_ascii_case("self"),
            HostPattern::Name(name) => name.eq_ignore_ascii_case(host),
            HostPattern::Subdomain(suffix) => host.to_ascii_lowercase().ends_with(suffix),
            HostPattern::Network(net, bits) => {
                let host = host.trim_start_matches('[').trim_end_matches(']');
                host.parse::<IpAddr>()
                    .is_ok_and(|ip| in_network(ip, *net, *bits))
            }
        };
        let Some(port) = port.or_else(|| default_port(scheme)) else {
            return false;
        };
        host_ok
            && match self.ports {
                PortPattern::Any => true,
                PortPattern::One(p) => p == port,
                PortPattern::Range(lo, hi) => (lo..hi).contains(&port),
            }
    }
}

fn looks_like_cidr(s: &str) -> bool {
    let host = split_host_port(s).0;
    host.split_once('/')
        .is_some_and(|(ip, bits)| ip.parse::<IpAddr>().is_ok() && bits.parse::<u8>().is_ok())
}

/// Splits `host[:port]`, keeping `[v6]` literals and CIDR suffixes on the host side.
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some((host, after)) = s.strip_prefix('[').and_then(|inner| inner.split_once(']')) {
        return (host, after.strip_prefix(':'));
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (s, None),
    }
}

fn parse_host(host: &str) -> Result<HostPattern, String> {
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    if host == "self" || host == "self.alt" {
        return Ok(HostPattern::Itself);
    }
    if let Some((ip, bits)) = host.split_once('/') {
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| format!("{ip:?} is not an IP address"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let bits: u8 = bits
            .parse()
            .ok()
            .filter(|b| *b <= max)
            .ok_or_else(|| format!("/{bits} is not a prefix length (0 to {max})"))?;
        return Ok(HostPattern::Network(ip, bits));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        return Ok(HostPattern::Network(ip, bits));
    }
    if let Some(domain) = host.strip_prefix("*.") {
        if domain.contains('*') || domain.is_empty() {
            return Err("a wildcard may only stand for a whole leading subdomain".into());
        }
        return Ok(HostPattern::Subdomain(format!(
            ".{}",
            domain.to_ascii_lowercase()
        )));
    }
    if host.contains('*') {
        return Err("a wildcard may only stand for a whole leading subdomain".into());
    }
    Ok(HostPattern::Name(host.to_ascii_lowercase()))
}

fn parse_ports(p: &str) -> Result<PortPattern, String> {
    let number = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("port {s:?} is not a number from 0 to 65535"))
    };
    match p.split_once("..") {
        Some((lo, hi)) => {
            let (lo, hi) = (number(lo)?, number(hi)?);
            if lo >= hi {
                return Err(format!("port range {p:?} is empty"));
            }
            Ok(PortPattern::Range(lo, hi))
        }
        None => Ok(PortPattern::One(number(p)?)),
    }
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(entry: &str, scheme: &str, host: &str, port: Option<u16>) -> bool {
        AllowedHost::parse(entry)
            .unwrap()
            .allows(scheme, host, port)
    }

    #[test]
    fn exact_host_uses_default_port() {
        assert!(allows("https://example.com", "https", "example.com", None));
        assert!(allows(
            "https://example.com",
            "https",
            "EXAMPLE.com",
            Some(443)
        ));
        assert!(!allows(
            "https://example.com",
            "https",
            "example.com",
            Some(8443)
        ));
        assert!(!allows("https://example.com", "http", "example.com", None));
        assert!(!allows("https://example.com", "https", "evil.com", None));
    }

    #[test]
    fn wildcards() {
        assert!(allows("*://*:*", "redis", "anything", Some(1)));
        assert!(allows(
            "https://*.example.com",
            "https",
            "api.example.com",
            None
        ));
        assert!(!allows(
            "https://*.example.com",
            "https",
            "example.com",
            None
        ));
        assert!(allows(
            "http://localhost:*",
            "http",
            "localhost",
            Some(1234)
        ));
        assert!(allows(
            "*://localhost:3000",
            "http",
            "localhost",
            Some(3000)
        ));
    }

    #[test]
    fn port_ranges_exclude_the_end() {
        assert!(allows("http://h:8000..8002", "http", "h", Some(8001)));
        assert!(!allows("http://h:8000..8002", "http", "h", Some(8002)));
    }

    #[test]
    fn ip_and_cidr() {
        assert!(allows("http://127.0.0.1:*", "http", "127.0.0.1", Some(5)));
        assert!(allows("http://10.0.0.0/8:*", "http", "10.2.3.4", Some(5)));
        assert!(!allows("http://10.0.0.0/8:*", "http", "11.2.3.4", Some(5)));
        assert!(allows("http://[::1]:80", "http", "[::1]", None));
    }

    #[test]
    fn self_allows_only_the_app_itself() {
        let h = AllowedHost::parse("http://self").unwrap();
        assert!(h.allows("http", "self", None));
        assert!(!h.allows("https", "self", None));
        assert!(!h.allows("http", "example.com", None));
        assert!(
            AllowedHost::parse("http://self.alt")
                .unwrap()
                .allows("http", "self", None)
        );
    }

    #[test]
    fn malformed_entries_are_explained() {
        let cases = [
            ("example.com", "no scheme"),
            ("https://example.com/path", "has a path"),
            ("https://ex*ample.com", "wildcard"),
            ("foo://example.com", "no port"),
            ("http://h:99999", "not a number"),
            ("http://h:9..3", "empty"),
            ("1://h", "invalid scheme"),
        ];
        for (entry, expected) in cases {
            let err = AllowedHost::parse(entry).unwrap_err();
            assert!(err.contains(expected), "{entry}: {err}");
        }
    }
}
