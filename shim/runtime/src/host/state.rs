//! The data of one request's `Store`: built fresh for each request and dropped with it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::host::key_value::{KeyValueAccess, KeyValueHandles};
use crate::host::limits::MemoryLimiter;
use crate::host::mqtt::MqttHandles;
use crate::host::mysql::MysqlHandles;
use crate::host::otel::GuestSpans;
use crate::host::outbound::{OutboundHooks, OutboundPolicy};
use crate::host::postgres::PostgresHandles;
use crate::host::redis::RedisHandles;
use crate::host::sqlite::{SqliteAccess, SqliteHandles};
use crate::host::stdio::{GuestLog, Stream};
use crate::telemetry::{TelemetryLink, TraceParent};

/// Most WASI and `wasi:http` resources (headers, requests, bodies, streams, pollables,
/// descriptors) one instance holds at once. Wasmtime's own default is 1,000,000, which
/// lets a guest that never drops them hold host memory outside its memory cap: about
/// 175 bytes per `fields` (peak RSS of `spin-run` serving 16,000 held, 2.8 MB), so
/// ~170 MiB per instance at a million and ~3 MiB at this cap; real apps hold tens.
/// Past it, making one fails the request.
pub const MAX_WASI_RESOURCES: usize = 16_384;

/// What a component may see and do, fixed at start-up and shared by its requests.
#[derive(Debug)]
pub struct ComponentHost {
    pub id: Arc<str>,
    pub variables: BTreeMap<String, String>,
    pub env: Vec<(String, String)>,
    /// Staged `files`, mounted read-only at `/`.
    pub files_dir: Option<PathBuf>,
    pub key_value: KeyValueAccess,
    pub sqlite: SqliteAccess,
    pub outbound: OutboundPolicy,
    pub max_memory: usize,
    /// Longest guest stdout/stderr line kept whole.
    pub max_log_line: usize,
    /// The app's telemetry: each instance's memory is recorded to it when the instance
    /// ends, and a guest's `wasi:otel` metrics go through it.
    pub telemetry: TelemetryLink,
}

/// One instance's state: WASI's and `wasi:http`'s contexts and their resource table,
/// and each Spin capability's handles (each capability's host functions see only its
/// own, through the view [`crate::host::link`] projects).
pub struct RequestState {
    pub component: Arc<ComponentHost>,
    pub table: ResourceTable,
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub hooks: OutboundHooks,
    pub limiter: MemoryLimiter,
    pub key_value: KeyValueHandles,
    pub sqlite: SqliteHandles,
    pub redis: RedisHandles,
    pub mqtt: MqttHandles,
    pub postgres: PostgresHandles,
    pub mysql: MysqlHandles,
    /// The `max_concurrent_instances` permit this instance holds (WASIp3 instances,
    /// which outlive the call that starts them).
    pub instance_permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Where the spans of this instance's host calls hang: the component's run for the
    /// request (for a reused WASIp3 instance, the latest request it took).
    pub trace: TraceParent,
    /// The guest's own spans (`wasi:otel`) it has open; host calls hang under the latest.
    pub guest_spans: GuestSpans,
}

impl RequestState {
    pub fn new(component: Arc<ComponentHost>, trace: TraceParent) -> std::io::Result<Self> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.envs(&component.env)
            .stdout(GuestLog::new(
                component.id.clone(),
                Stream::Stdout,
                component.max_log_line,
            ))
            .stderr(GuestLog::new(
                component.id.clone(),
                Stream::Stderr,
                component.max_log_line,
            ))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        if let Some(dir) = &component.files_dir {
            wasi.preopened_dir(dir, "/", FsPerms::ReadOnly)
                .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        }
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_WASI_RESOURCES);
        Ok(Self {
            table,
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: OutboundHooks {
                policy: component.outbound.clone(),
                trace: trace.clone(),
            },
            limiter: MemoryLimiter::new(component.max_memory),
            key_value: KeyValueHandles::default(),
            sqlite: SqliteHandles::default(),
            redis: RedisHandles::default(),
            mqtt: MqttHandles::default(),
            postgres: PostgresHandles::default(),
            mysql: MysqlHandles::default(),
            instance_permit: None,
            guest_spans: GuestSpans::new(trace.clone()),
            trace,
            component,
        })
    }

    /// Hangs the spans of host calls from now on under `trace`.
    pub fn set_trace(&mut self, trace: TraceParent) {
        self.guest_spans = GuestSpans::new(trace.clone());
        self.hooks.trace = trace.clone();
        self.trace = trace;
    }
}

impl Drop for RequestState {
    /// The instance ends: its memory goes to `spin.component_memory_used`.
    fn drop(&mut self) {
        self.component
            .telemetry
            .record_instance_memory(&self.component.id, self.limiter.used());
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}
