//! How the app's TLS connections are made: outbound HTTPS, PostgreSQL, MySQL, Redis
//! (`rediss://`) and MQTT (`mqtts://`), from guests, triggers and key-value stores.
//!
//! Every TLS connection verifies the server's certificate chain and its name (the host
//! the address names, even when the client dials its resolved IP); there is no switch
//! to turn that off. By default the chain must lead to one of the built-in roots
//! (Mozilla's set, `webpki-roots`, the same for every protocol), never the node's
//! certificate store, so an app trusts the same servers on every node.
//!
//! Spin's runtime config `[[client_tls]]` tables change that for some components and
//! hosts (the table's `component_ids` and `hosts`, the first table naming a pair wins):
//! extra roots (`ca_roots_file`), whether the built-in ones still count
//! (`ca_use_webpki_roots`; `ca_use_platform_roots` also means the built-in set here), and
//! a client certificate (`client_cert_file` with `client_private_key_file`). Spin applies
//! the table to outbound HTTP only; here it applies to every protocol above, since a
//! managed database's private CA can only be trusted this way (there is no node store
//! to add it to). Connections not made for one component (a key-value store on Redis)
//! use the first table naming the host.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};

/// The certificates one kind of TLS connection trusts and shows.
#[derive(Debug)]
pub struct TlsMaterial {
    /// Roots trusted besides (or instead of) the built-in ones.
    pub roots: Vec<CertificateDer<'static>>,
    /// Whether the built-in roots are trusted.
    pub builtin_roots: bool,
    /// The client certificate chain and its key, shown when the server asks.
    pub identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

impl Clone for TlsMaterial {
    fn clone(&self) -> Self {
        Self {
            roots: self.roots.clone(),
            builtin_roots: self.builtin_roots,
            identity: self
                .identity
                .as_ref()
                .map(|(chain, key)| (chain.clone(), key.clone_key())),
        }
    }
}

impl TlsMaterial {
    /// Reads `roots_pem` (certificates) and, for a client certificate, the certificate
    /// chain and key of `identity_pem`; errors name the runtime config keys.
    pub fn from_pem(
        roots_pem: Option<&[u8]>,
        builtin_roots: bool,
        identity_pem: Option<(&[u8], &[u8])>,
    ) -> Result<Self, String> {
        let roots = match roots_pem {
            Some(pem) => certificates(pem, "`ca_roots_file`")?,
            None => Vec::new(),
        };
        if roots.is_empty() && !builtin_roots {
            return Err(
                "trusts no root: set `ca_roots_file` or `ca_use_webpki_roots = true`".into(),
            );
        }
        let identity = identity_pem
            .map(|(cert, key)| {
                let chain = certificates(cert, "`client_cert_file`")?;
                let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| {
                    format!("`client_private_key_file` holds no PEM private key ({e})")
                })?;
                Ok::<_, String>((chain, key))
            })
            .transpose()?;
        Ok(Self {
            roots,
            builtin_roots,
            identity,
        })
    }
}

/// The PEM certificates of `pem`, at least one; `what` names them in errors.
fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what} is not PEM certificates ({e})"))?;
    if certs.is_empty() {
        return Err(format!("{what} holds no PEM certificate"));
    }
    Ok(certs)
}

/// A `[[client_tls]]` table, its files read.
#[derive(Debug, Clone)]
pub struct ClientTlsEntry {
    pub component_ids: Vec<String>,
    /// Host names or IPs, without ports.
    pub hosts: Vec<String>,
    pub material: TlsMaterial,
}

/// A TLS client setup: what it trusts and shows, and the rustls configuration of it.
#[derive(Debug)]
pub struct TlsClient {
    material: TlsMaterial,
    config: Arc<ClientConfig>,
}

impl TlsClient {
    /// Builds the configuration of `material`.
    pub fn new(material: TlsMaterial) -> Result<Self, String> {
        let mut roots = RootCertStore::empty();
        if material.builtin_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for cert in &material.roots {
            roots
                .add(cert.clone())
                .map_err(|e| format!("a root certificate cannot be used: {e}"))?;
        }
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots);
        let config = match &material.identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(|e| format!("the client certificate cannot be used: {e}"))?,
            None => builder.with_no_client_auth(),
        };
        Ok(Self {
            material,
            config: Arc::new(config),
        })
    }

    /// The built-in roots, no client certificate: what a connection uses unless a
    /// `[[client_tls]]` table says otherwise.
    pub fn builtin() -> Arc<TlsClient> {
        static BUILTIN: OnceLock<Arc<TlsClient>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                let material = TlsMaterial {
                    roots: Vec::new(),
                    builtin_roots: true,
                    identity: None,
                };
                Arc::new(TlsClient::new(material).expect("the built-in roots are usable"))
            })
            .clone()
    }

    pub fn material(&self) -> &TlsMaterial {
        &self.material
    }

    pub fn config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    /// This setup, also trusting the PEM certificates of `pem` (PostgreSQL's
    /// `set-ca-root`).
    pub fn with_root_pem(&self, pem: &[u8]) -> Result<TlsClient, String> {
        let mut material = self.material.clone();
        material.roots.extend(certificates(pem, "the CA root")?);
        TlsClient::new(material)
    }

    /// A configuration that checks the certificate against `host` whatever name the
    /// client library gives the handshake (the MQTT client, which dials the resolved
    /// IP and names the handshake after it).
    pub fn config_for_named_host(&self, host: &str) -> Result<Arc<ClientConfig>, String> {
        let named = server_name(host)?;
        let mut roots = RootCertStore::empty();
        if self.material.builtin_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        roots.add_parsable_certificates(self.material.roots.iter().cloned());
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| e.to_string())?;
        let mut config = (*self.config).clone();
        config
            .dangerous()
            .set_certificate_verifier(Arc::new(NamedHostVerifier { inner, named }));
        Ok(Arc::new(config))
    }

    /// Runs the TLS handshake over `stream` for `host` (the name the certificate must
    /// carry); `alpn` are the protocols offered, if any.
    pub async fn connect<S>(
        &self,
        host: &str,
        stream: S,
        alpn: &[&[u8]],
    ) -> std::io::Result<tokio_rustls::client::TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let name = server_name(host).map_err(std::io::Error::other)?;
        let config = if alpn.is_empty() {
            self.config.clone()
        } else {
            let mut config = (*self.config).clone();
            config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            Arc::new(config)
        };
        tokio_rustls::TlsConnector::from(config)
            .connect(name, stream)
            .await
            .map_err(|e| std::io::Error::other(explain(&e.to_string())))
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The name a certificate must carry for `host` (an IP literal, bracketed or not, or a
/// DNS name).
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => Ok(ServerName::from(ip)),
        Err(_) => ServerName::try_from(bare.to_string())
            .map_err(|_| format!("{host:?} is not a host name a certificate can carry")),
    }
}

/// A TLS failure as a user reads it: an untrusted or misnamed certificate says what to
/// do about it.
pub fn explain(failure: &str) -> String {
    advice(failure).unwrap_or_else(|| format!("TLS handshake failed: {failure}"))
}

/// What to do about `failure` when it is a TLS failure the user can fix: an untrusted
/// or misnamed server certificate, or a server that wants a client certificate (which
/// TLS 1.3 reports only once the handshake is over, on the first read).
pub fn advice(failure: &str) -> Option<String> {
    if failure.contains("UnknownIssuer") || failure.contains("unknown issuer") {
        Some(format!(
            "the server's TLS certificate is not trusted ({failure}); trust its CA with a \
             [[client_tls]] table (ca_roots_file) in the runtime config"
        ))
    } else if failure.contains("NotValidForName") || failure.contains("not valid for name") {
        Some(format!(
            "the server's TLS certificate does not name the host connected to ({failure})"
        ))
    } else if failure.contains("CertificateRequired") {
        Some(format!(
            "the server requires a client certificate ({failure}); give one with \
             client_cert_file and client_private_key_file in a [[client_tls]] table for this \
             host"
        ))
    } else if failure.contains("fatal alert: BadCertificate")
        || failure.contains("fatal alert: UnknownCA")
    {
        Some(format!(
            "the server refused the client certificate ({failure}); check the \
             [[client_tls]] table's client_cert_file"
        ))
    } else {
        None
    }
}

/// Checks a certificate against a fixed name instead of the handshake's.
#[derive(Debug)]
struct NamedHostVerifier {
    inner: Arc<WebPkiServerVerifier>,
    named: ServerName<'static>,
}

impl ServerCertVerifier for NamedHostVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _dialed: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.named, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Every `[[client_tls]]` table of the app, by component and host.
#[derive(Clone, Default)]
pub struct ClientTls {
    /// Component id -> host -> setup; the first table naming a pair wins.
    by_component: HashMap<String, Arc<HashMap<String, Arc<TlsClient>>>>,
    /// Host -> the first table naming it, for connections of no one component.
    by_host: Arc<HashMap<String, Arc<TlsClient>>>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("components", &self.by_component.keys().collect::<Vec<_>>())
            .field("hosts", &self.by_host.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ClientTls {
    /// Builds every table's setup; an error names the table (`[[client_tls]] #N`).
    pub fn new(entries: Vec<ClientTlsEntry>) -> Result<Self, String> {
        let mut by_component: HashMap<String, HashMap<String, Arc<TlsClient>>> = HashMap::new();
        let mut by_host = HashMap::new();
        for (index, entry) in entries.into_iter().enumerate() {
            let client = TlsClient::new(entry.material)
                .map(Arc::new)
                .map_err(|e| format!("[[client_tls]] #{}: {e}", index + 1))?;
            for host in &entry.hosts {
                let host = host.to_ascii_lowercase();
                by_host
                    .entry(host.clone())
                    .or_insert_with(|| client.clone());
                for component in &entry.component_ids {
                    by_component
                        .entry(component.clone())
                        .or_default()
                        .entry(host.clone())
                        .or_insert_with(|| client.clone());
                }
            }
        }
        Ok(Self {
            by_component: by_component
                .into_iter()
                .map(|(component, hosts)| (component, Arc::new(hosts)))
                .collect(),
            by_host: Arc::new(by_host),
        })
    }

    /// The setups of `component`'s connections.
    pub fn for_component(&self, component: &str) -> ComponentTls {
        ComponentTls {
            by_host: self
                .by_component
                .get(component)
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// The setup of a connection made for no one component (a key-value store).
    pub fn for_host(&self, host: &str) -> Arc<TlsClient> {
        lookup(&self.by_host, host)
    }
}

/// How one component's TLS connections are made, by host.
#[derive(Debug, Clone, Default)]
pub struct ComponentTls {
    by_host: Arc<HashMap<String, Arc<TlsClient>>>,
}

impl ComponentTls {
    /// The setup of a connection to `host`.
    pub fn for_host(&self, host: &str) -> Arc<TlsClient> {
        lookup(&self.by_host, host)
    }
}

fn lookup(by_host: &HashMap<String, Arc<TlsClient>>, host: &str) -> Arc<TlsClient> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    by_host
        .get(&bare.to_ascii_lowercase())
        .cloned()
        .unwrap_or_else(TlsClient::builtin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    fn entry(components: &[&str], hosts: &[&str], builtin: bool) -> ClientTlsEntry {
        ClientTlsEntry {
            component_ids: components.iter().map(|c| c.to_string()).collect(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            material: TlsMaterial::from_pem(Some(ca_pem().as_bytes()), builtin, None).unwrap(),
        }
    }

    #[test]
    fn the_first_table_naming_a_component_and_host_wins() {
        let tls = ClientTls::new(vec![
            entry(&["a"], &["db.example.com"], false),
            entry(&["a", "b"], &["DB.example.com", "other"], true),
        ])
        .unwrap();
        let a = tls.for_component("a").for_host("db.example.com");
        assert!(!a.material().builtin_roots);
        let b = tls.for_component("b").for_host("db.example.com");
        assert!(b.material().builtin_roots);
        assert_eq!(b.material().roots.len(), 1);
        // Elsewhere: the built-in roots alone.
        let elsewhere = tls.for_component("c").for_host("db.example.com");
        assert!(Arc::ptr_eq(&elsewhere, &TlsClient::builtin()));
        assert!(Arc::ptr_eq(
            &tls.for_component("a").for_host("third"),
            &TlsClient::builtin()
        ));
        // No one component: the first table naming the host.
        assert!(!tls.for_host("db.example.com").material().builtin_roots);
    }

    #[test]
    fn unusable_material_is_refused_naming_the_setting() {
        let e = TlsMaterial::from_pem(None, false, None).unwrap_err();
        assert!(e.contains("trusts no root"), "{e}");
        let e = TlsMaterial::from_pem(Some(b"not pem"), true, None).unwrap_err();
        assert_eq!(e, "`ca_roots_file` holds no PEM certificate");
        let ca = ca_pem();
        let e = TlsMaterial::from_pem(None, true, Some((ca.as_bytes(), b"no key"))).unwrap_err();
        assert!(
            e.contains("`client_private_key_file` holds no PEM private key"),
            "{e}"
        );
    }

    #[test]
    fn failures_say_what_to_do() {
        let e = explain("invalid peer certificate: UnknownIssuer");
        assert!(e.contains("[[client_tls]] table (ca_roots_file)"), "{e}");
        let e = explain("invalid peer certificate: NotValidForName");
        assert!(
            e.starts_with("the server's TLS certificate does not name"),
            "{e}"
        );
        let e = advice("received fatal alert: CertificateRequired").unwrap();
        assert!(
            e.contains("client_cert_file and client_private_key_file"),
            "{e}"
        );
        assert_eq!(advice("connection reset by peer"), None);
    }
}
