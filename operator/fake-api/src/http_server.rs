//! The in-memory API over real HTTP on loopback, so that binaries (our CLI, `kubectl`)
//! can talk to it through a kubeconfig.

use std::net::SocketAddr;

use http::Request;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::FakeApi;

impl FakeApi {
    /// Serves this API on `http://127.0.0.1:PORT` (a free port) until the runtime ends;
    /// returns the address.
    pub async fn serve_http(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("bound address");
        let api = self.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let api = api.clone();
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let api = api.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let bytes = body.collect().await?.to_bytes();
                        let req = Request::from_parts(parts, kube::client::Body::from(bytes));
                        Ok::<_, hyper::Error>(api.handle(req).await)
                    }
                });
                tokio::spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        addr
    }

    /// A kubeconfig that points at [`FakeApi::serve_http`]'s `addr`, namespace `default`.
    pub fn kubeconfig(addr: SocketAddr) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: 'http://{addr}'}}\nusers:\n- name: test-user\n  user: {{token: fake}}\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: test-user, namespace: default}}\ncurrent-context: fake\n"
        )
    }
}
