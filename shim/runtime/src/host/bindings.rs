//! Rust bindings generated from the WIT under `shim/runtime/wit`.

/// `fermyon:spin@2.0.0` key-value, SQLite, Redis, MQTT, PostgreSQL, MySQL and variables, and `wasi:config/store`. Async, so
/// database work runs on blocking threads, off the async workers.
pub mod spin {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "spin-host",
        imports: { default: async | trappable },
    });
}

/// Spin's unversioned `fermyon:spin/inbound-http` handler world and outbound `http`.
pub mod inbound_http {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "fermyon:spin/inbound-http-component",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// Spin's unversioned `fermyon:spin/inbound-redis` handler (Spin 2/3 SDKs' Redis
/// trigger world).
pub mod inbound_redis {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "fermyon:spin/inbound-redis-component",
        exports: { default: async },
    });
}

/// The current SDKs' Redis handler (`spin:redis/inbound-redis@3.0.0`, a WASIp3
/// `async` export called inside `run_concurrent`).
pub mod inbound_redis_current {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "spin:redis/inbound-redis-component",
        exports: { default: async | store },
    });
}

/// SpinKube's MQTT trigger handler (`spin:mqtt-trigger-sdk/inbound-mqtt`).
pub mod inbound_mqtt {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "spin:mqtt-trigger-sdk/inbound-mqtt-component",
        exports: { default: async },
    });
}

/// Spin's current MQTT trigger plugin's handler (`handle-message` of
/// `spin:mqtt-trigger@3.0.0`, a WASIp3 `async` export called inside `run_concurrent`).
pub mod mqtt_trigger_current {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "spin:mqtt-trigger/spin-mqtt@3.0.0",
        exports: { default: async | store },
    });
}

/// The current cron trigger plugin's `handle-cron-event` (the same package as
/// [`cron`], but a WASIp3 `async` export called inside `run_concurrent`).
pub mod cron_current {
    wasmtime::component::bindgen!({
        path: "wit-cron-async/cron.wit",
        world: "spin-cron",
        exports: { default: async | store },
    });
}

/// The cron trigger's `handle-cron-event` export (`fermyon:spin-cron@2.0.0`).
pub mod cron {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "fermyon:spin-cron/spin-cron",
        exports: { default: async },
    });
}

/// The Spin 3/4 interfaces current SDKs import: `spin:key-value@3.0.0` and
/// `spin:variables@3.0.0` (WIT `async` functions, called concurrently),
/// `spin:sqlite@3.1.0`, `spin:redis@3.0.0`, `spin:mqtt@3.0.0`,
/// `spin:postgres@3.0.0` and `@4.2.0` (`@4.0.0`/`@4.1.0` imports link to it by semver),
/// `spin:mysql@3.0.0` and
/// `wasi:keyvalue@0.2.0-draft2`. Stores and buckets are the same open store as in
/// `fermyon:spin/key-value`.
pub mod current {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "spin-host-current",
        imports: { default: async | trappable },
    });
}

/// `wasi:otel@0.2.0-rc.2` (tracing, metrics, logs): the guest's own telemetry. Its
/// clock types are WASI's own.
pub mod otel {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "wasi-otel-host",
        with: {
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
        require_store_data_send: true,
    });
}
