//! Per-app runtime settings, one table for every place that names them: the
//! environment variable the shim reads from a container's `env` (and `spin-run` from
//! its own), and the SpinApp `spec.invocationLimits` key the operator turns into that
//! variable.
//!
//! `memory` is SpinKube's common invocation limit (SKIP 006: converted to bytes in
//! `SPIN_MAX_INSTANCE_MEMORY`). The others are this executor's own, namespaced as
//! SpinKube asks executors to do: `spin-kube.dev/<name>`. Keys namespaced by another
//! executor are left to it.

/// How a setting's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bytes: a number, or a quantity with a binary (`Ki`, `Mi`, `Gi`, `Ti`) or
    /// decimal (`k`, `M`, `G`, `T`) suffix, like Kubernetes quantities.
    Bytes,
    /// A whole number above 0 (a count, or seconds).
    Count,
}

/// One setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub env: &'static str,
    pub invocation_limit: &'static str,
    pub kind: Kind,
}

const fn setting(env: &'static str, invocation_limit: &'static str, kind: Kind) -> Setting {
    Setting {
        env,
        invocation_limit,
        kind,
    }
}

/// The namespace of this executor's own invocation limits.
pub const INVOCATION_LIMIT_PREFIX: &str = "spin-kube.dev/";

pub const MAX_INSTANCE_MEMORY: Setting = setting("SPIN_MAX_INSTANCE_MEMORY", "memory", Kind::Bytes);
pub const MAX_REQUEST_BODY: Setting = setting(
    "SPIN_HTTP_MAX_REQUEST_BODY",
    "spin-kube.dev/maxRequestBody",
    Kind::Bytes,
);
pub const MAX_HEADER_BYTES: Setting = setting(
    "SPIN_HTTP_MAX_HEADER_BYTES",
    "spin-kube.dev/maxHeaderBytes",
    Kind::Bytes,
);
pub const MAX_HEADERS: Setting = setting(
    "SPIN_HTTP_MAX_HEADERS",
    "spin-kube.dev/maxHeaders",
    Kind::Count,
);
pub const HEADER_READ_TIMEOUT_SECS: Setting = setting(
    "SPIN_HTTP_HEADER_READ_TIMEOUT_SECS",
    "spin-kube.dev/headerReadTimeoutSeconds",
    Kind::Count,
);
pub const MAX_CONNECTIONS: Setting = setting(
    "SPIN_HTTP_MAX_CONNECTIONS",
    "spin-kube.dev/maxConnections",
    Kind::Count,
);
pub const MAX_OUTBOUND_RESPONSE_BODY: Setting = setting(
    "SPIN_OUTBOUND_MAX_RESPONSE_BODY",
    "spin-kube.dev/maxOutboundResponseBody",
    Kind::Bytes,
);
pub const MAX_LOG_LINE_BYTES: Setting = setting(
    "SPIN_LOG_MAX_LINE_BYTES",
    "spin-kube.dev/maxLogLineBytes",
    Kind::Bytes,
);
pub const MAX_KEY_VALUE_BYTES: Setting = setting(
    "SPIN_KEY_VALUE_MAX_BYTES",
    "spin-kube.dev/maxKeyValueBytes",
    Kind::Bytes,
);
pub const MAX_SQLITE_BYTES: Setting = setting(
    "SPIN_SQLITE_MAX_BYTES",
    "spin-kube.dev/maxSqliteBytes",
    Kind::Bytes,
);
/// Most bytes of files an app's components have staged for their guests (their
/// `files`, all components together). In a pod they are copied into the container's
/// bundle, which containerd keeps on `/run` (memory on most nodes).
pub const MAX_FILES_BYTES: Setting = setting(
    "SPIN_FILES_MAX_BYTES",
    "spin-kube.dev/maxFilesBytes",
    Kind::Bytes,
);
/// Most bytes per second the app's log lines (guest output and the runtime's own lines)
/// may write to the container's log; lines past it are dropped and counted. The
/// kubelet rotates container logs only every few seconds, so an app logging at full
/// speed would otherwise fill the node's disk between two rotations.
pub const MAX_LOG_BYTES_PER_SECOND: Setting = setting(
    "SPIN_LOG_MAX_BYTES_PER_SECOND",
    "spin-kube.dev/maxLogBytesPerSecond",
    Kind::Bytes,
);
pub const REQUEST_TIMEOUT_SECS: Setting = setting(
    "SPIN_REQUEST_TIMEOUT_SECS",
    "spin-kube.dev/requestTimeoutSeconds",
    Kind::Count,
);
pub const MAX_CONCURRENT_INSTANCES: Setting = setting(
    "SPIN_MAX_CONCURRENT_INSTANCES",
    "spin-kube.dev/maxConcurrentRequests",
    Kind::Count,
);
/// Instance reuse for WASIp3 (`wasi:http/handler@0.3`) components, with Spin's
/// `spin up` option names (`--max-instance-reuse-count`, ...). 1 (the default) gives
/// every request a fresh instance; more lets one instance serve that many requests
/// in turn, sharing its memory between them.
pub const MAX_INSTANCE_REUSE_COUNT: Setting = setting(
    "SPIN_HTTP_MAX_INSTANCE_REUSE_COUNT",
    "spin-kube.dev/maxInstanceReuseCount",
    Kind::Count,
);
/// How many requests one reused WASIp3 instance may serve at the same time (1).
pub const MAX_INSTANCE_CONCURRENT_REUSE_COUNT: Setting = setting(
    "SPIN_HTTP_MAX_INSTANCE_CONCURRENT_REUSE_COUNT",
    "spin-kube.dev/maxInstanceConcurrentReuseCount",
    Kind::Count,
);
/// Seconds an idle reusable instance is kept for the next request (1); Spin's name.
pub const IDLE_INSTANCE_TIMEOUT_SECS: Setting = setting(
    "SPIN_HTTP_IDLE_INSTANCE_TIMEOUT_SECS",
    "spin-kube.dev/idleInstanceTimeoutSeconds",
    Kind::Count,
);

/// Every setting.
pub const ALL: &[Setting] = &[
    MAX_INSTANCE_MEMORY,
    MAX_REQUEST_BODY,
    MAX_HEADER_BYTES,
    MAX_HEADERS,
    HEADER_READ_TIMEOUT_SECS,
    MAX_CONNECTIONS,
    MAX_OUTBOUND_RESPONSE_BODY,
    MAX_LOG_LINE_BYTES,
    MAX_KEY_VALUE_BYTES,
    MAX_SQLITE_BYTES,
    MAX_FILES_BYTES,
    MAX_LOG_BYTES_PER_SECOND,
    REQUEST_TIMEOUT_SECS,
    MAX_CONCURRENT_INSTANCES,
    MAX_INSTANCE_REUSE_COUNT,
    MAX_INSTANCE_CONCURRENT_REUSE_COUNT,
    IDLE_INSTANCE_TIMEOUT_SECS,
];

/// What an `invocationLimits` key means to this executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationLimit {
    /// A setting this executor applies.
    Known(Setting),
    /// Namespaced by another executor: not ours to judge.
    OtherExecutor,
    /// A key this executor should know but does not: a typo, most likely.
    Unknown,
}

/// Looks up an `invocationLimits` key.
pub fn invocation_limit(key: &str) -> InvocationLimit {
    if let Some(s) = ALL.iter().find(|s| s.invocation_limit == key) {
        return InvocationLimit::Known(*s);
    }
    if key.contains('/') && !key.starts_with(INVOCATION_LIMIT_PREFIX) {
        InvocationLimit::OtherExecutor
    } else {
        InvocationLimit::Unknown
    }
}

impl Kind {
    /// The value as a number; the error says how to write it.
    pub fn parse(self, text: &str) -> Result<u64, String> {
        match self {
            Kind::Bytes => parse_size(text),
            Kind::Count => text
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| "use a whole number above 0".into()),
        }
    }
}

/// `1048576`, `64Ki`, `100Mi`, `1Gi`, `128M` as bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    const HOW: &str =
        "use a number of bytes, or one with a Ki, Mi, Gi (or k, M, G) suffix, like 64Mi";
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, ""),
    };
    let factor: u64 = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        _ => return Err(HOW.into()),
    };
    let n: u64 = digits.parse().map_err(|_| HOW.to_string())?;
    n.checked_mul(factor)
        .filter(|&n| n > 0)
        .ok_or_else(|| "must be more than 0 and fit in 64 bits".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_quantity_suffixes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("64Ki"), Ok(64 << 10));
        assert_eq!(parse_size("100Mi"), Ok(100 << 20));
        assert_eq!(parse_size("2Gi"), Ok(2 << 30));
        assert_eq!(parse_size("128M"), Ok(128_000_000));
        for bad in [
            "",
            "0",
            "10MB",
            "-1",
            "1.5Mi",
            "99999999999999999999Gi",
            "64mi",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn invocation_limit_keys() {
        assert_eq!(
            invocation_limit("memory"),
            InvocationLimit::Known(MAX_INSTANCE_MEMORY)
        );
        assert_eq!(
            invocation_limit("spin-kube.dev/maxRequestBody"),
            InvocationLimit::Known(MAX_REQUEST_BODY)
        );
        assert_eq!(
            invocation_limit("spintainer.spinframework.dev/bar"),
            InvocationLimit::OtherExecutor
        );
        assert_eq!(
            invocation_limit("spin-kube.dev/nope"),
            InvocationLimit::Unknown
        );
        assert_eq!(invocation_limit("cpu"), InvocationLimit::Unknown);
        let envs: std::collections::BTreeSet<_> = ALL.iter().map(|s| s.env).collect();
        assert_eq!(envs.len(), ALL.len(), "one variable per setting");
    }
}
