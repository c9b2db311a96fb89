//! Watch streams: every change to a stored object is recorded (a bounded history plus a
//! live broadcast), and `GET <collection>?watch=true&resourceVersion=N` streams the
//! changes after N that fall in the collection and match its label selector, as
//! newline-separated `{"type": ..., "object": ...}` events.

use std::collections::VecDeque;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::Body;
use crate::selectors::{labels_match, query_param};

/// Changes kept for watches that start from an older resourceVersion.
const HISTORY: usize = 4096;

/// One change: the object's key, `ADDED`/`MODIFIED`/`DELETED`, the object after it.
#[derive(Clone)]
pub(crate) struct Change {
    version: u64,
    key: String,
    kind: &'static str,
    object: Value,
}

pub(crate) struct Changes {
    history: VecDeque<Change>,
    live: broadcast::Sender<Change>,
}

impl Default for Changes {
    fn default() -> Self {
        Self {
            history: VecDeque::new(),
            live: broadcast::Sender::new(HISTORY),
        }
    }
}

impl Changes {
    /// Records that `key` was `kind` (`ADDED`, `MODIFIED`, `DELETED`) at `version`.
    pub(crate) fn record(&mut self, version: u64, key: &str, kind: &'static str, object: &Value) {
        let change = Change {
            version,
            key: key.to_string(),
            kind,
            object: object.clone(),
        };
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(change.clone());
        let _ = self.live.send(change);
    }

    /// The watch of `collection` from the `resourceVersion` in `query`.
    pub(crate) fn watch(&self, collection: &str, query: &str) -> Response<Body> {
        let since: u64 = query_param(query, "resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let labels = query_param(query, "labelSelector").unwrap_or_default();
        let collection = collection.to_string();
        let wanted = move |c: &Change| {
            c.version > since
                && crate::in_collection(&collection, &c.key)
                && labels_match(&labels, &c.object)
        };
        // Subscribing and copying the backlog under the caller's lock leaves no gap.
        let backlog: Vec<Change> = self.history.iter().filter(|c| wanted(c)).cloned().collect();
        let live = self.live.subscribe();
        let live = futures::stream::unfold((live, wanted), |(mut live, wanted)| async move {
            loop {
                match live.recv().await {
                    Ok(change) if wanted(&change) => return Some((change, (live, wanted))),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        let events = futures::StreamExt::map(
            futures::StreamExt::chain(futures::stream::iter(backlog), live),
            |c| {
                let mut line = serde_json::to_vec(&json!({"type": c.kind, "object": c.object}))
                    .expect("JSON values serialize");
                line.push(b'\n');
                Ok(http_body::Frame::data(Bytes::from(line)))
            },
        );
        Response::builder()
            .status(StatusCode::OK)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(BodyExt::boxed(StreamBody::new(events)))
            .unwrap()
    }
}
