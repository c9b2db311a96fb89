//! Route tables and request paths: adding routes and matching never panics, and a
//! match always names a component of the table.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spin_app::routes::Router;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Lines: the first is the base, the last the request path, the rest routes.
    let lines: Vec<&str> = text.split('\n').collect();
    let (Some(base), Some(path)) = (lines.first(), lines.last()) else {
        return;
    };
    let mut router = Router::default();
    let mut components = Vec::new();
    let routes = lines.get(1..lines.len() - 1).unwrap_or_default();
    for (i, route) in routes.iter().enumerate() {
        let component = format!("c{i}");
        if router.add(base, route, &component).is_ok() {
            components.push(component);
        }
    }
    if let Some(m) = router.route(path) {
        assert!(components.iter().any(|c| c == m.component));
    }
});
