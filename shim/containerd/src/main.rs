//! `containerd-shim-spin-v2`: the containerd runtime `io.containerd.spin.v2`.
//!
//! containerd starts it once per pod (`start`), then drives it over ttrpc: the Task
//! service ([`task`]) creates, starts, kills and deletes the pod's containers through a
//! small [`workload::Workload`] trait; each app container is a Spin app
//! ([`spin_container`], [`app`]) served by this process on the embedded runtime.

mod app;
mod artifact;
mod bundle;
mod cgroup;
mod confined;
mod logs;
mod rootfs;
mod runtime_config_mount;
mod shim;
mod spin_container;
mod stats;
mod task;
mod workload;

/// containerd's name for this runtime (`ctr run --runtime io.containerd.spin.v2`).
pub const RUNTIME_ID: &str = "io.containerd.spin.v2";

#[tokio::main]
async fn main() {
    // Started again by itself to compile a component (see `spin_runtime::code::child`).
    spin_runtime::code::child::run_if_requested();
    // stderr goes nowhere once the shim runs: panics go to containerd's log.
    std::panic::set_hook(Box::new(|info| log::error!("panic: {info}")));
    containerd_shim::asynchronous::run::<shim::SpinShim>(RUNTIME_ID, None).await;
}
