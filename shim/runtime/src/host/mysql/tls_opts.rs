//! TLS for MySQL connections: which addresses ask for it, and the client's TLS options
//! made from the component's [`crate::tls`] setup.
//!
//! As in Spin, an `ssl-mode` (or `sslmode`) query parameter other than `disabled` asks
//! for TLS, and without one the connection is in the clear; the client's own
//! `require_ssl` parameter asks for it too. Whatever the mode says, the certificate's
//! chain and host name are verified (`VERIFY_IDENTITY`); no parameter turns that off.

use base64::Engine;
use mysql_async::{ClientIdentity, SslOpts};
use rustls::pki_types::PrivateKeyDer;

use crate::tls::TlsClient;

/// `address` without its `ssl-mode`/`sslmode` parameters, and whether they ask for TLS.
pub fn split_ssl_mode(address: &str) -> Result<(String, bool), String> {
    let mut url = url::Url::parse(address).map_err(|e| e.to_string())?;
    let is_mode =
        |key: &str| key.eq_ignore_ascii_case("ssl-mode") || key.eq_ignore_ascii_case("sslmode");
    let mut wants_tls = false;
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(key, value)| {
            if is_mode(key) {
                wants_tls |= !value.eq_ignore_ascii_case("disabled");
                false
            } else {
                true
            }
        })
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok((url.into(), wants_tls))
}

/// The client's TLS options for a connection to `host` (dialed by IP; the certificate
/// must name `host`).
pub fn ssl_opts(tls: &TlsClient, host: &str) -> SslOpts {
    let material = tls.material();
    let roots = material
        .roots
        .iter()
        .map(|der| der.to_vec().into())
        .collect();
    let identity = material.identity.as_ref().map(|(chain, key)| {
        let chain: String = chain.iter().map(|c| pem("CERTIFICATE", c)).collect();
        let label = match key {
            PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
            PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
            _ => "PRIVATE KEY",
        };
        ClientIdentity::new(
            chain.into_bytes().into(),
            pem(label, key.secret_der()).into_bytes().into(),
        )
    });
    SslOpts::default()
        .with_root_certs(roots)
        .with_disable_built_in_roots(!material.builtin_roots)
        .with_client_identity(identity)
        .with_danger_tls_hostname_override(Some(host.to_string()))
}

/// `der` as a PEM block labelled `label`.
fn pem(label: &str, der: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_mode_asks_for_tls_unless_disabled_and_leaves_the_address() {
        let split = |a: &str| split_ssl_mode(a).unwrap();
        assert_eq!(
            split("mysql://u:p@db:3306/app"),
            ("mysql://u:p@db:3306/app".into(), false)
        );
        assert_eq!(
            split("mysql://u:p@db/app?ssl-mode=REQUIRED"),
            ("mysql://u:p@db/app".into(), true)
        );
        assert_eq!(
            split("mysql://db/app?sslmode=VERIFY_IDENTITY&pool_min=1"),
            ("mysql://db/app?pool_min=1".into(), true)
        );
        assert_eq!(
            split("mysql://db/app?ssl-mode=disabled"),
            ("mysql://db/app".into(), false)
        );
    }

    #[test]
    fn keys_and_chains_are_handed_over_as_pem() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["client".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let material = crate::tls::TlsMaterial::from_pem(
            None,
            true,
            Some((cert.pem().as_bytes(), key.serialize_pem().as_bytes())),
        )
        .unwrap();
        let (chain, key_der) = material.identity.as_ref().unwrap();
        assert_eq!(
            pem("CERTIFICATE", &chain[0]),
            cert.pem().replace("\r\n", "\n")
        );
        assert_eq!(
            pem("PRIVATE KEY", key_der.secret_der()),
            key.serialize_pem()
        );
    }
}
