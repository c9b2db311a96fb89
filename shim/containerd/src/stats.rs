//! Task metrics for CRI's ContainerStats (kubectl top, the kubelet's eviction and the
//! HPA's resource metrics): the shim process is the pod's app, so its resident memory
//! and CPU time are the app's. Sent as cgroups v1 `Metrics`, which containerd decodes.

use containerd_shim_protos::cgroups::metrics::{
    CPUStat, CPUUsage, MemoryEntry, MemoryStat, Metrics,
};

/// Resident bytes and CPU nanoseconds (user, kernel) of this process, all threads.
pub fn own_usage() -> std::io::Result<(u64, u64, u64)> {
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(4096) as u64;
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let resident_pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map_err(std::io::Error::from)?;
    let ns =
        |t: nix::sys::time::TimeVal| t.tv_sec() as u64 * 1_000_000_000 + t.tv_usec() as u64 * 1000;
    Ok((
        resident_pages * page,
        ns(usage.user_time()),
        ns(usage.system_time()),
    ))
}

/// Metrics for an app container with the given memory limit.
pub fn app_metrics(limit: Option<u64>) -> Metrics {
    let (rss, user, kernel) = own_usage().unwrap_or_default();
    Metrics {
        memory: Some(MemoryStat {
            rss,
            total_rss: rss,
            usage: Some(MemoryEntry {
                usage: rss,
                limit: limit.unwrap_or(u64::MAX),
                ..Default::default()
            })
            .into(),
            ..Default::default()
        })
        .into(),
        cpu: Some(CPUStat {
            usage: Some(CPUUsage {
                total: user + kernel,
                user,
                kernel,
                ..Default::default()
            })
            .into(),
            ..Default::default()
        })
        .into(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_this_process() {
        // Burn a little CPU so the counters move.
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(20) {
            std::hint::black_box(start.elapsed());
        }
        let m = app_metrics(Some(1 << 30));
        let memory = m.memory.unwrap();
        assert!(memory.rss > 1 << 20, "rss {}", memory.rss);
        assert_eq!(memory.usage.limit, 1 << 30);
        assert!(m.cpu.usage.total > 0);
    }
}
