//! `allowed_outbound_hosts` entries and the destinations checked against them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spin_app::allowed_hosts::AllowedHost;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (entry, target) = text
        .split_once('\n')
        .unwrap_or((text, "https://example.com"));
    let Ok(allowed) = AllowedHost::parse(entry) else {
        return;
    };
    let (scheme, rest) = target.split_once("://").unwrap_or(("https", target));
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()),
        None => (rest, None),
    };
    let _ = allowed.allows(scheme, host, port);
});
