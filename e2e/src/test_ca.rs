//! A certificate authority made by a test, and a server certificate it signs, for
//! servers started with TLS turned on.

use std::path::{Path, PathBuf};

/// A CA and a server certificate for `127.0.0.1` and `localhost`, written as PEM files.
pub struct TestCa {
    /// The CA's certificate (what a client must trust).
    pub ca: PathBuf,
    /// The server's certificate and its private key.
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    /// Makes a new CA and server certificate and writes `ca.pem`, `server.pem` and
    /// `server-key.pem` into `dir`.
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
        let ca = Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server-key.pem"),
        };
        std::fs::write(&ca.ca, issuer.pem()).expect("write ca.pem");
        std::fs::write(&ca.cert, cert.pem()).expect("write server.pem");
        std::fs::write(&ca.key, server_key.serialize_pem()).expect("write server-key.pem");
        ca
    }
}
