//! The deprecated `allowed_http_hosts` list (Spin 1), turned into
//! `allowed_outbound_hosts` entries exactly as Spin turns it:
//! - `insecure:allow-all` anywhere in the list: `http://*:*`, `https://*:*`, `http://self`;
//! - `self`: `http://self`;
//! - `host`, `host:port`, `http://host[:port]` or `https://host[:port]` (no path): both
//!   `http://host[:port]` and `https://host[:port]`, whatever scheme was written.
//!
//! A version 1 manifest without `allowed_outbound_hosts` also gets
//! `redis://*:*`, `mysql://*:*` and `postgres://*:*`: before that field existed, Spin
//! let every component reach any database.

const ALLOW_ALL: &str = "insecure:allow-all";

/// The database entries a version 1 component without `allowed_outbound_hosts` gets.
pub const V1_DATABASE_ACCESS: [&str; 3] = ["redis://*:*", "mysql://*:*", "postgres://*:*"];

/// Converts the list; the error names every entry that is not a host.
pub fn to_outbound_hosts(list: &[String]) -> Result<Vec<String>, String> {
    if list.iter().any(|entry| entry == ALLOW_ALL) {
        return Ok(vec![
            "http://*:*".into(),
            "https://*:*".into(),
            "http://self".into(),
        ]);
    }
    let mut hosts = Vec::new();
    let mut errors = Vec::new();
    for entry in list {
        match host_and_port(entry) {
            Ok(host) if host == "self" => hosts.push("http://self".into()),
            Ok(host) => {
                hosts.push(format!("http://{host}"));
                hosts.push(format!("https://{host}"));
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(hosts)
    } else {
        Err(errors.join("; "))
    }
}

/// `host` or `host:port` of one entry.
fn host_and_port(entry: &str) -> Result<String, String> {
    let url = if entry.contains("//") {
        let url = url::Url::parse(entry)
            .map_err(|e| format!("{entry:?} is not a valid HTTP host URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{entry:?} is not an http or https host"));
        }
        url
    } else {
        url::Url::parse(&format!("http://{entry}"))
            .map_err(|_| format!("{entry:?} is not a host or host:port"))?
    };
    let host = url
        .host_str()
        .ok_or_else(|| format!("{entry:?} has no host name"))?;
    if url.path().len() > 1 {
        return Err(format!(
            "{entry:?} has a path; give the host and optional port only"
        ));
    }
    Ok(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(list: &[&str]) -> Result<Vec<String>, String> {
        to_outbound_hosts(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn hosts_get_both_schemes_whatever_was_written() {
        for (entry, host) in [
            ("example.com", "example.com"),
            ("http://example.com", "example.com"),
            ("https://example.com/", "example.com"),
            ("example.com:7777", "example.com:7777"),
            ("https://example.com:5555", "example.com:5555"),
            ("192.168.1.1:3002", "192.168.1.1:3002"),
            ("http://[::1]:8001", "[::1]:8001"),
            ("localhost", "localhost"),
        ] {
            assert_eq!(
                convert(&[entry]).unwrap(),
                [format!("http://{host}"), format!("https://{host}")],
                "{entry}"
            );
        }
    }

    #[test]
    fn self_and_allow_all() {
        assert_eq!(convert(&["self"]).unwrap(), ["http://self"]);
        assert_eq!(
            convert(&["example.com", "insecure:allow-all"]).unwrap(),
            ["http://*:*", "https://*:*", "http://self"]
        );
        assert!(convert(&[]).unwrap().is_empty());
    }

    #[test]
    fn paths_and_other_schemes_are_refused_by_name() {
        let err = convert(&["http://example.com/a", "ftp://example.com", "ok.com"]).unwrap_err();
        assert!(err.contains("\"http://example.com/a\" has a path"), "{err}");
        assert!(
            err.contains("\"ftp://example.com\" is not an http"),
            "{err}"
        );
        assert!(!err.contains("ok.com"), "{err}");
    }
}
