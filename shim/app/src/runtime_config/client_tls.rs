//! Spin's `[[client_tls]]` tables: how some components' TLS connections to some hosts
//! are made (extra CA roots, whether the built-in roots count, a client certificate).
//! The files are named as written; the embedder reads them.

use std::path::PathBuf;

use super::only_keys;

/// Keys a `[[client_tls]]` table takes.
const KEYS: [&str; 7] = [
    "component_ids",
    "hosts",
    "ca_use_platform_roots",
    "ca_use_webpki_roots",
    "ca_roots_file",
    "client_cert_file",
    "client_private_key_file",
];

/// One `[[client_tls]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTlsTable {
    /// Components it applies to (at least one).
    pub component_ids: Vec<String>,
    /// Hosts it applies to, without ports (at least one).
    pub hosts: Vec<String>,
    /// Whether the built-in roots are trusted: `ca_use_webpki_roots` or
    /// `ca_use_platform_roots` (one set here), by default only without `ca_roots_file`,
    /// as Spin decides.
    pub builtin_roots: bool,
    /// PEM file of extra roots, as written.
    pub ca_roots_file: Option<PathBuf>,
    /// PEM files of the client certificate chain and its private key, as written.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// Parses the `client_tls` array of tables; an error names the table by its number.
pub fn parse(value: &toml::Value) -> Result<Vec<ClientTlsTable>, (String, String)> {
    let tables = value.as_array().ok_or_else(|| {
        (
            "[client_tls]: ".to_string(),
            "must be an array of tables: [[client_tls]]".to_string(),
        )
    })?;
    tables
        .iter()
        .enumerate()
        .map(|(index, table)| {
            table_of(table).map_err(|problem| (format!("[[client_tls]] #{}: ", index + 1), problem))
        })
        .collect()
}

fn table_of(value: &toml::Value) -> Result<ClientTlsTable, String> {
    let table = value
        .as_table()
        .ok_or("must be a table with `component_ids` and `hosts`")?;
    only_keys(table, &KEYS)?;
    let component_ids = strings(table, "component_ids")?;
    let hosts = strings(table, "hosts")?;
    for host in &hosts {
        check_host(host)?;
    }
    let flag = |key: &str| -> Result<Option<bool>, String> {
        table
            .get(key)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| format!("`{key}` must be true or false"))
            })
            .transpose()
    };
    let path = |key: &str| -> Result<Option<PathBuf>, String> {
        table
            .get(key)
            .map(|v| {
                v.as_str()
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .ok_or_else(|| format!("`{key}` must be a file path"))
            })
            .transpose()
    };
    let ca_roots_file = path("ca_roots_file")?;
    let builtin_roots = match (flag("ca_use_platform_roots")?, flag("ca_use_webpki_roots")?) {
        (None, None) => ca_roots_file.is_none(),
        (platform, webpki) => platform.unwrap_or(false) || webpki.unwrap_or(false),
    };
    if !builtin_roots && ca_roots_file.is_none() {
        return Err("trusts no root: set `ca_roots_file`, or `ca_use_webpki_roots = true`".into());
    }
    let client_cert = match (path("client_cert_file")?, path("client_private_key_file")?) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        (Some(_), None) => {
            return Err("`client_cert_file` is set without `client_private_key_file`".into());
        }
        (None, Some(_)) => {
            return Err("`client_private_key_file` is set without `client_cert_file`".into());
        }
    };
    Ok(ClientTlsTable {
        component_ids,
        hosts,
        builtin_roots,
        ca_roots_file,
        client_cert,
    })
}

/// A non-empty list of non-empty strings at `key`.
fn strings(table: &toml::Table, key: &str) -> Result<Vec<String>, String> {
    let list = table
        .get(key)
        .ok_or_else(|| format!("has no `{key}`"))?
        .as_array()
        .ok_or_else(|| format!("`{key}` must be a list of strings"))?;
    let strings: Vec<String> = list
        .iter()
        .map(|v| {
            v.as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or_else(|| format!("`{key}` must be a list of strings"))
        })
        .collect::<Result<_, _>>()?;
    if strings.is_empty() {
        return Err(format!("`{key}` may not be empty"));
    }
    Ok(strings)
}

/// A host as Spin takes it: a name or IP (an IPv6 one bracketed or not), no port, no
/// scheme, user or path.
fn check_host(host: &str) -> Result<(), String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok(());
    }
    if host.contains(':') {
        return Err(format!(
            "`hosts`: {host:?} names a port or scheme; name the host alone (it applies to \
             every port)"
        ));
    }
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '*');
    if !host.chars().all(fine) {
        return Err(format!("`hosts`: {host:?} is not a host name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Vec<ClientTlsTable>, String> {
        let root: toml::Table = text.parse().unwrap();
        parse(&root["client_tls"]).map_err(|(table, problem)| format!("{table}{problem}"))
    }

    #[test]
    fn tables_read_as_spin_reads_them() {
        let tables = parse_text(
            r#"
            [[client_tls]]
            component_ids = ["api"]
            hosts = ["db.example.com", "10.0.0.5"]
            ca_roots_file = "certs/ca.pem"
            client_cert_file = "certs/client.pem"
            client_private_key_file = "certs/client.key"

            [[client_tls]]
            component_ids = ["api", "worker"]
            hosts = ["api.example.com"]
            ca_use_webpki_roots = true
            ca_roots_file = "ca.pem"
            "#,
        )
        .unwrap();
        assert_eq!(
            tables[0],
            ClientTlsTable {
                component_ids: vec!["api".into()],
                hosts: vec!["db.example.com".into(), "10.0.0.5".into()],
                builtin_roots: false,
                ca_roots_file: Some("certs/ca.pem".into()),
                client_cert: Some(("certs/client.pem".into(), "certs/client.key".into())),
            }
        );
        assert!(tables[1].builtin_roots);
        // Neither flag nor file: the built-in roots (Spin's platform roots).
        let only_cert = parse_text(
            "[[client_tls]]\ncomponent_ids = [\"a\"]\nhosts = [\"h\"]\nclient_cert_file = \"c\"\nclient_private_key_file = \"k\"\n",
        )
        .unwrap();
        assert!(only_cert[0].builtin_roots);
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            (
                "[client_tls]\nhosts = []",
                "[client_tls]: must be an array of tables",
            ),
            (
                "[[client_tls]]\nhosts = [\"h\"]",
                "[[client_tls]] #1: has no `component_ids`",
            ),
            (
                "[[client_tls]]\ncomponent_ids = []\nhosts = [\"h\"]",
                "[[client_tls]] #1: `component_ids` may not be empty",
            ),
            (
                "[[client_tls]]\ncomponent_ids = [\"a\"]\nhosts = [\"h:5432\"]",
                "[[client_tls]] #1: `hosts`: \"h:5432\" names a port",
            ),
            (
                "[[client_tls]]\ncomponent_ids = [\"a\"]\nhosts = [\"h\"]\nca_use_webpki_roots = false",
                "[[client_tls]] #1: trusts no root",
            ),
            (
                "[[client_tls]]\ncomponent_ids = [\"a\"]\nhosts = [\"h\"]\nclient_cert_file = \"c\"",
                "[[client_tls]] #1: `client_cert_file` is set without `client_private_key_file`",
            ),
            (
                "[[client_tls]]\ncomponent_ids = [\"a\"]\nhosts = [\"h\"]\nca_file = \"c\"",
                "[[client_tls]] #1: unknown key `ca_file`",
            ),
        ];
        for (text, expected) in cases {
            let e = parse_text(text).unwrap_err();
            assert!(e.starts_with(expected), "{text}: {e}");
        }
    }
}
