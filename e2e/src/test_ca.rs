//! A certificate authority made by a test, and a server certificate it signs, for
//! servers started with TLS turned on.

use std::path::{Path, PathBuf};

/// A CA, a server certificate for `127.0.0.1` and `localhost` and a client
/// certificate it signs, written as PEM files.
#[derive(Clone)]
pub struct TestCa {
    /// The CA's certificate (what a client must trust).
    pub ca: PathBuf,
    /// The server's certificate and its private key.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// A client's certificate (`spin-client`) and its private key.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl TestCa {
    /// Makes a new CA, server and client certificate and writes `ca.pem`,
    /// `server.pem`, `server-key.pem`, `client.pem` and `client-key.pem` into `dir`.
    pub fn write_to(dir: &Path) -> Self {
        let ca_key = rcgen::KeyPair::generate().expect("a CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "spin-kube test CA");
        let issuer = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA cert");
        let server_key = rcgen::KeyPair::generate().expect("a server key");
        let mut params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .expect("server params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        let cert = params.signed_by(&server_key, &issuer).expect("server cert");
        let client_key = rcgen::KeyPair::generate().expect("a client key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("client");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "spin-client");
        let client = params.signed_by(&client_key, &issuer).expect("client cert");
        let ca = Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server-key.pem"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client-key.pem"),
        };
        std::fs::write(&ca.ca, issuer.pem()).expect("write ca.pem");
        std::fs::write(&ca.cert, cert.pem()).expect("write server.pem");
        std::fs::write(&ca.key, server_key.serialize_pem()).expect("write server-key.pem");
        std::fs::write(&ca.client_cert, client.pem()).expect("write client.pem");
        std::fs::write(&ca.client_key, client_key.serialize_pem()).expect("write client-key.pem");
        ca
    }
}
