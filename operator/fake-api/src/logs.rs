//! Container logs behind `pods/NAME/log`, as the kubelet serves them through the API
//! server: the whole log, its last `tailLines`, or (`follow=true`) a stream that
//! carries what is appended until the container ends.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};

use crate::{Body, FakeApi};

/// One pod's log.
#[derive(Default)]
pub(crate) struct PodLog {
    text: String,
    /// The container has exited: a follower's stream ends after the last line.
    ended: bool,
}

/// Logs by pod object path.
pub(crate) type Logs = BTreeMap<String, PodLog>;

impl PodLog {
    /// The byte offset of the last `lines` lines.
    fn tail_start(&self, lines: usize) -> usize {
        if lines == 0 {
            return self.text.len();
        }
        let body = self.text.strip_suffix('\n').unwrap_or(&self.text);
        body.rmatch_indices('\n')
            .nth(lines - 1)
            .map_or(0, |(i, _)| i + 1)
    }
}

impl FakeApi {
    /// Appends `text` to the log of pod `namespace/pod`, as its container would write it.
    pub fn append_log(&self, namespace: &str, pod: &str, text: &str) {
        let key = crate::path("v1", "pods", namespace, pod);
        let mut state = self.state.lock().unwrap();
        state.logs.entry(key).or_default().text.push_str(text);
        drop(state);
        self.log_changes.send_modify(|n| *n += 1);
    }

    /// The container of `namespace/pod` has exited: followers see the end of the log.
    pub fn end_log(&self, namespace: &str, pod: &str) {
        let key = crate::path("v1", "pods", namespace, pod);
        let mut state = self.state.lock().unwrap();
        state.logs.entry(key).or_default().ended = true;
        drop(state);
        self.log_changes.send_modify(|n| *n += 1);
    }

    /// Answers `GET <pod>/log` for the pod at `pod_path`.
    pub(crate) fn pod_log(&self, pod_path: &str, logs: &Logs, query: &str) -> Response<Body> {
        let param = |key| crate::selectors::query_param(query, key);
        let empty = PodLog::default();
        let log = logs.get(pod_path).unwrap_or(&empty);
        let start = param("tailLines")
            .and_then(|n| n.parse().ok())
            .map(|n| log.tail_start(n))
            .unwrap_or(0);
        if param("follow").as_deref() != Some("true") {
            return text_response(Full::new(Bytes::from(log.text[start..].to_string())).boxed());
        }
        let api = self.clone();
        let changes = self.log_changes.subscribe();
        let key = pod_path.to_string();
        let stream = futures::stream::unfold(
            (api, key, start, changes),
            |(api, key, position, mut changes)| async move {
                loop {
                    changes.borrow_and_update();
                    let (chunk, ended) = {
                        let state = api.state.lock().unwrap();
                        match state.logs.get(&key) {
                            Some(log) => (log.text[position..].to_string(), log.ended),
                            None => (String::new(), false),
                        }
                    };
                    if !chunk.is_empty() {
                        let next = position + chunk.len();
                        let frame = http_body::Frame::data(Bytes::from(chunk));
                        return Some((Ok(frame), (api, key, next, changes)));
                    }
                    if ended || changes.changed().await.is_err() {
                        return None;
                    }
                }
            },
        );
        text_response(BodyExt::boxed(StreamBody::new(stream)))
    }
}

fn text_response(body: Body) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "text/plain")
        .body(body)
        .unwrap()
}

#[cfg(test)]
mod tests {
    use super::PodLog;

    #[test]
    fn tail_counts_lines_from_the_end() {
        let log = PodLog {
            text: "a\nb\nc\n".into(),
            ended: false,
        };
        assert_eq!(&log.text[log.tail_start(2)..], "b\nc\n");
        assert_eq!(&log.text[log.tail_start(5)..], "a\nb\nc\n");
        assert_eq!(&log.text[log.tail_start(0)..], "");
    }
}
