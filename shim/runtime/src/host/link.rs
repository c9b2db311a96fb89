//! The host functions every component may import: WASI and `wasi:http` (their
//! contexts in the instance state), and each Spin capability linked to its view of the
//! instance state.
//!
//! Adding a capability: a folder under `host/` with its interfaces and an
//! `impl HostCapability`, its grant in [`ComponentHost`](crate::host::state::ComponentHost),
//! its handles in [`RequestState`], and one line here.

use wasmtime::component::Linker;

use crate::host::capability::{CapabilityView, HostCapability};
use crate::host::key_value::KeyValue;
use crate::host::mqtt::Mqtt;
use crate::host::mysql::Mysql;
use crate::host::otel::{Otel, OtelView};
use crate::host::postgres::Postgres;
use crate::host::redis::Redis;
use crate::host::spin_http::{SpinHttpView, SpinOutboundHttp};
use crate::host::sqlite::Sqlite;
use crate::host::state::RequestState;
use crate::host::variables::{Variables, VariablesView};

pub fn add_to_linker(linker: &mut Linker<RequestState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    wasmtime_wasi::p3::add_to_linker(linker)?;
    wasmtime_wasi_http::p3::add_to_linker(linker)?;
    KeyValue::add_to_linker(linker, |s| CapabilityView {
        component: &s.component.id,
        trace: &s.trace,
        grant: &s.component.key_value,
        handles: &mut s.key_value,
    })?;
    Sqlite::add_to_linker(linker, |s| CapabilityView {
        component: &s.component.id,
        trace: &s.trace,
        grant: &s.component.sqlite,
        handles: &mut s.sqlite,
    })?;
    Redis::add_to_linker(linker, |s| CapabilityView {
        component: &s.component.id,
        trace: &s.trace,
        grant: &s.component.outbound,
        handles: &mut s.redis,
    })?;
    Mqtt::add_to_linker(linker, |s| CapabilityView {
        component: &s.component.id,
        trace: &s.trace,
        grant: &s.component.outbound,
        handles: &mut s.mqtt,
    })?;
    Postgres::add_to_linker(linker, |s| CapabilityView {
        component: &s.component.id,
        trace: &s.trace,
        grant: &s.component.outbound,
        handles: &mut s.postgres,
    })?;
    Mysql::add_to_linker(linker, |s| CapabilityView {
        component: &s.component.id,
        trace: &s.trace,
        grant: &s.component.outbound,
        handles: &mut s.mysql,
    })?;
    Variables::add_to_linker(linker, |s| VariablesView {
        component: &s.component.id,
        values: &s.component.variables,
    })?;
    Otel::add_to_linker(linker, |s| OtelView {
        component: &s.component.id,
        max_log_line: s.component.max_log_line,
        telemetry: &s.component.telemetry,
        spans: &mut s.guest_spans,
        trace: &mut s.trace,
        http_trace: &mut s.hooks.trace,
    })?;
    SpinOutboundHttp::add_to_linker(linker, |s| SpinHttpView {
        policy: &s.component.outbound,
        trace: &s.trace,
    })
}
