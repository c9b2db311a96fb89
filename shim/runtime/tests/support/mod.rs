//! An in-process harness for the runtime: an app of test guests (made from WAT by
//! `test-guests`), loaded as `spin-run` loads it, prepared by `PreparedApp::prepare`
//! with a configuration the test sets field by field, and served on a loopback port of
//! this process by the same trigger loop the shim runs. A trigger or a host capability
//! is tested through the guest's requests, without spawning `spin-run`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use spin_runtime::content::LocalContent;
use spin_runtime::trigger::http::HttpServer;
use spin_runtime::trigger::run::run_triggers;
use spin_runtime::{PreparedApp, RuntimeConfig, RuntimeError};
use tempfile::TempDir;
use tokio::sync::oneshot;

/// An app's files: `spin.toml` and the Wasm it names, in a directory of its own.
pub struct AppFiles {
    dir: TempDir,
}

impl AppFiles {
    pub fn new(manifest: &str, wasm: &[(&str, Vec<u8>)]) -> Self {
        Self {
            dir: test_guests::app_dir(manifest, wasm),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Loads and prepares the app with `spin-run`'s defaults (state under the app's
    /// `.spin`, loopback port 0), changed by `configure`.
    pub fn prepare(
        &self,
        configure: impl FnOnce(&mut RuntimeConfig),
    ) -> Result<PreparedApp, RuntimeError> {
        let locked = spin_app::load::load_app(&self.path().join("spin.toml")).unwrap();
        let mut config = RuntimeConfig::local(self.path().join(".spin"));
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        configure(&mut config);
        PreparedApp::prepare(locked, config, Arc::new(LocalContent))
    }
}

/// A prepared app served by its triggers in this process until dropped.
pub struct Serving {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl Serving {
    /// Binds the app's HTTP server and starts every trigger of the app.
    pub async fn start(app: PreparedApp) -> Self {
        let app = Arc::new(app);
        let server = HttpServer::bind(app.clone()).await.unwrap();
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        tokio::spawn(run_triggers(
            app,
            Some(server),
            shutdown,
            Duration::from_secs(1),
        ));
        Self { addr, _stop: stop }
    }

    /// `GET path`: the status and the body as text.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        let request = http::Request::get(path)
            .header(http::header::HOST, self.addr.to_string())
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}
