//! `logs NAME`: the logs of an app's pods, each line prefixed with its pod's name.

use futures::{AsyncBufReadExt, Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};

use crate::cluster::{APP_NAME_LABEL, Target};
use crate::error::ClusterError;
use crate::{get, readiness};

/// Which lines to show; kubectl's flag names.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LogOptions {
    /// Keep printing new lines as the pods write them, until interrupted.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only lines written in this last span, e.g. 30s, 5m, 1h30m.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<i64>,
    /// Only this many lines from the end of each pod's log.
    #[arg(long, value_name = "LINES")]
    pub tail: Option<i64>,
}

/// The pods of app `name`, by name; an error naming the app's readiness when it has none.
pub async fn app_pods(target: &Target, name: &str) -> Result<Vec<Pod>, ClusterError> {
    let app = get::fetch_app(target, name).await?;
    let api: Api<Pod> = Api::namespaced(target.client.clone(), &target.namespace);
    let selector = format!("{APP_NAME_LABEL}={name}");
    let mut pods = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| target.refused(e, "list", "pods", None))?
        .items;
    if pods.is_empty() {
        return Err(ClusterError::NoPods {
            namespace: target.namespace.clone(),
            name: name.into(),
            wanted: "pods",
            condition: readiness::summary(&app),
        });
    }
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok(pods)
}

/// Prints (through `out`) the logs of `pods`, `[POD] LINE`: one pod after the other, or,
/// when following, interleaved as they arrive until every stream ends.
pub async fn print(
    target: &Target,
    pods: &[Pod],
    options: &LogOptions,
    mut out: impl FnMut(&str),
) -> Result<(), ClusterError> {
    let api: Api<Pod> = Api::namespaced(target.client.clone(), &target.namespace);
    let params = LogParams {
        follow: options.follow,
        since_seconds: options.since,
        tail_lines: options.tail,
        ..LogParams::default()
    };
    let mut streams = Vec::new();
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let reader = api
            .log_stream(&name, &params)
            .await
            .map_err(|e| target.refused(e, "get", "pods/log", Some(&name)))?;
        streams.push(prefixed(name, reader.lines()).boxed());
    }
    let mut lines = if options.follow {
        futures::stream::select_all(streams).boxed()
    } else {
        futures::stream::iter(streams).flatten().boxed()
    };
    while let Some(line) = lines.try_next().await? {
        out(&line);
    }
    Ok(())
}

fn prefixed(
    pod: String,
    lines: impl Stream<Item = std::io::Result<String>>,
) -> impl Stream<Item = Result<String, ClusterError>> {
    lines.map(move |line| {
        line.map(|l| format!("[{pod}] {l}"))
            .map_err(|source| ClusterError::LogStream {
                pod: pod.clone(),
                source,
            })
    })
}

/// Seconds in a duration written as kubectl takes it: `90s`, `5m`, `1h30m` (units h, m, s).
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a duration; write e.g. 30s, 5m or 1h30m");
    let mut seconds: i64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        let n: i64 = number.parse().map_err(|_| bad())?;
        seconds = n
            .checked_mul(unit)
            .and_then(|s| seconds.checked_add(s))
            .ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || seconds == 0 {
        return Err(bad());
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_read_like_kubectls() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("5m"), Ok(300));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        for bad in ["", "5", "m", "5d", "0s", "-5s", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
