//! Service chaining, as Spin does it: a component's outbound HTTP request to
//! `http://<component>.spin.internal/…` is served by that component of the same app,
//! in-process (no socket, no DNS), as if it had been routed by `/...`; one to
//! `http://self/…` goes through the app's own routes. Either must first be allowed by
//! the calling component's `allowed_outbound_hosts` (`http://*.spin.internal`,
//! `http://<component>.spin.internal`, `http://self`), exactly as any other destination.
//!
//! A chained request is an ordinary request of the app: it takes an instance permit
//! (`max_concurrent_instances`; none free answers 503, so a component calling itself
//! in a loop ends there), and its body and its response are bounded like a client's.
//! It is served only while the app's HTTP trigger is up; otherwise, and for a name
//! that is no HTTP component of the app, the guest gets a DNS error naming it.
//!
//! This side is what outbound HTTP needs: which URIs are chained, and a [`ChainLink`] to
//! whatever serves them. The app's HTTP trigger is that server ([`ChainedServer`] is
//! implemented in `trigger/http`), so the host capabilities never name the app.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, Weak};

use wasmtime_wasi_http::{Error, WasiBody};

/// Where a chained request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainTarget<'a> {
    /// `<component>.spin.internal`.
    Component(&'a str),
    /// `self`: the app's routes.
    App,
}

const INTERNAL_DOMAIN: &str = ".spin.internal";

/// The chained destination a URI names, if it names one.
pub fn chain_target(uri: &http::Uri) -> Option<ChainTarget<'_>> {
    let host = uri.host()?;
    if host.eq_ignore_ascii_case("self") {
        return Some(ChainTarget::App);
    }
    let split = host.len().checked_sub(INTERNAL_DOMAIN.len())?;
    let (id, domain) = (host.get(..split)?, host.get(split..)?);
    (domain.eq_ignore_ascii_case(INTERNAL_DOMAIN) && !id.is_empty() && !id.contains('.'))
        .then_some(ChainTarget::Component(id))
}

/// The answer to a chained request, as a future the link can hold without knowing the
/// server's type.
pub type ChainedResponse<'a> =
    Pin<Box<dyn Future<Output = Result<http::Response<WasiBody>, Error>> + Send + 'a>>;

/// What serves the chained requests of an app's components: the app itself, once its
/// HTTP trigger is up.
pub trait ChainedServer: Send + Sync {
    /// Serves `request` to `target` (a [`chain_target`] of its URI); `Err` when the
    /// target is no HTTP component of the app.
    fn serve_chained<'a>(
        &'a self,
        target: ChainTarget<'a>,
        request: http::Request<WasiBody>,
    ) -> ChainedResponse<'a>;
}

/// The app's components' way back to the app they belong to, connected once the
/// app's HTTP trigger serves. Holds the server weakly: it does not keep the app alive.
#[derive(Clone, Default)]
pub struct ChainLink(Arc<OnceLock<Weak<dyn ChainedServer>>>);

impl std::fmt::Debug for ChainLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let connected = self.0.get().is_some_and(|server| server.strong_count() > 0);
        f.debug_struct("ChainLink")
            .field("connected", &connected)
            .finish()
    }
}

impl ChainLink {
    pub fn connect(&self, server: Weak<dyn ChainedServer>) {
        let _ = self.0.set(server);
    }

    /// Serves a request to `target` (a [`chain_target`] of its URI) in-process.
    pub async fn send(
        &self,
        target: ChainTarget<'_>,
        request: http::Request<WasiBody>,
    ) -> Result<http::Response<WasiBody>, Error> {
        let server = self
            .0
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| Error::DnsError {
                rcode: Some(
                    "`*.spin.internal` and `self` resolve only while the app serves HTTP"
                        .to_string(),
                ),
                info_code: None,
            })?;
        server.serve_chained(target, request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The target of `uri`, owned: `Some(None)` for `self`, `Some(Some(id))` for a
    /// component, `None` for anything else.
    fn target(uri: &str) -> Option<Option<String>> {
        let uri: http::Uri = uri.parse().ok()?;
        match chain_target(&uri)? {
            ChainTarget::App => Some(None),
            ChainTarget::Component(id) => Some(Some(id.to_string())),
        }
    }

    #[test]
    fn internal_names_and_self_are_chained_targets() {
        let uri: http::Uri = "http://backend.spin.internal/api?x=1".parse().unwrap();
        assert_eq!(chain_target(&uri), Some(ChainTarget::Component("backend")));
        let uri: http::Uri = "https://Backend.SPIN.Internal:8443/".parse().unwrap();
        assert_eq!(chain_target(&uri), Some(ChainTarget::Component("Backend")));
        assert_eq!(target("http://self/x"), Some(None));
        assert_eq!(target("http://SELF"), Some(None));
        assert_eq!(
            target("http://audit.spin.internal/log"),
            Some(Some("audit".into()))
        );
    }

    #[test]
    fn other_names_are_not() {
        for uri in [
            "http://spin.internal/",
            "http://.spin.internal/",
            "http://a.b.spin.internal/",
            "http://backend.spin.internal.example.com/",
            "http://selfish/",
            "http://example.com/",
            "/relative",
        ] {
            assert_eq!(target(uri), None, "{uri}");
        }
    }
}
