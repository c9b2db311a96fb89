//! The HTTP routes of a locked app, listed as `spin up` lists them, for `deploy`'s
//! closing lines.

use spin_app::LockedApp;
use spin_app::routes::Router;

/// `COMPONENT: ORIGIN/ROUTE` per public HTTP route of `app` (private routes and other
/// triggers are not reachable from outside, so not listed). Routes the runtime would
/// refuse are left out; the operator's status reports those.
pub fn listing(app: &LockedApp, origin: &str) -> Vec<String> {
    let mut router = Router::default();
    for trigger in app.triggers.iter().filter(|t| t.trigger_type == "http") {
        let config = &trigger.trigger_config;
        let (Some(route), Some(component)) =
            (config["route"].as_str(), config["component"].as_str())
        else {
            continue;
        };
        let _ = router.add(app.http_base(), route, component);
    }
    router.listing(origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_http_routes_under_the_base() {
        let app = LockedApp::from_json(
            br#"{"spin_lock_version": 1,
                 "metadata": {"name": "shop", "triggers": {"http": {"base": "/shop"}}},
                 "triggers": [
                   {"id": "t1", "trigger_type": "http", "trigger_config": {"route": "/...", "component": "web"}},
                   {"id": "t2", "trigger_type": "http", "trigger_config": {"route": "/api/cart", "component": "cart"}},
                   {"id": "t3", "trigger_type": "http", "trigger_config": {"route": {"private": true}, "component": "internal"}},
                   {"id": "t4", "trigger_type": "redis", "trigger_config": {"channel": "c", "component": "worker"}}
                 ],
                 "components": []}"#,
            std::path::Path::new("spin.lock"),
        )
        .unwrap();
        assert_eq!(
            listing(&app, "http://shop.default.svc.cluster.local:80"),
            [
                "web: http://shop.default.svc.cluster.local:80/shop (wildcard)",
                "cart: http://shop.default.svc.cluster.local:80/shop/api/cart",
            ]
        );
    }
}
