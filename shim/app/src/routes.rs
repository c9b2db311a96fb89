//! Spin's HTTP routing.
//!
//! Routes, as written in `[[trigger.http]] route = ...`:
//! - `/hello`: exactly that path (a trailing `/` on the request is ignored);
//! - `/users/:id`: `:name` matches one segment and is passed as `spin-path-match-name`;
//! - `/static/...`: that prefix and everything below it; `/...` matches every path.
//!
//! When several routes match, the most specific wins: the one matching more leading
//! segments, then an exact route over a wildcard, then more literal segments over
//! parameters. Two routes with the same shape are refused at start-up.

/// One segment of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

#[derive(Debug, Clone)]
struct Route {
    segments: Vec<Segment>,
    wildcard: bool,
    /// The route as written (with the base path applied), e.g. `/static/...`.
    raw: String,
    component: String,
}

/// Routing table of an app.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
}

/// The route a request matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    pub component: &'a str,
    /// The route as written, e.g. `/static/...`.
    pub raw_route: &'a str,
    /// The part of the path below a wildcard route's prefix, e.g. `/css/a.css`.
    pub path_info: String,
    /// Named `:param` segments.
    pub params: Vec<(String, String)>,
}

impl RouteMatch<'_> {
    /// The route without its `/...` wildcard suffix (`spin-component-route`).
    pub fn component_route(&self) -> &str {
        let trimmed = self
            .raw_route
            .strip_suffix("/...")
            .unwrap_or(self.raw_route);
        if self.raw_route == "/..." {
            ""
        } else {
            trimmed
        }
    }
}

/// Why a route was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("route {route:?} of component `{component}` must start with `/`")]
    NoLeadingSlash { route: String, component: String },
    #[error("route {route:?} of component `{component}`: `...` may only be the last segment")]
    MisplacedWildcard { route: String, component: String },
    #[error("route {route:?} of component `{component}`: a `:` parameter needs a name")]
    EmptyParam { route: String, component: String },
    #[error(
        "routes {first:?} (component `{first_component}`) and {second:?} (component `{second_component}`) match the same requests; change one of them"
    )]
    Duplicate {
        first: String,
        first_component: String,
        second: String,
        second_component: String,
    },
}

impl Router {
    /// Adds a route below `base` (`/` unless `[application.trigger.http] base` is set).
    pub fn add(&mut self, base: &str, route: &str, component: &str) -> Result<(), RouteError> {
        let full = join_base(base, route);
        if !route.starts_with('/') {
            return Err(RouteError::NoLeadingSlash {
                route: route.into(),
                component: component.into(),
            });
        }
        let mut parts: Vec<&str> = split(&full);
        let wildcard = parts.last() == Some(&"...");
        if wildcard {
            parts.pop();
        }
        let mut segments = Vec::with_capacity(parts.len());
        for part in parts {
            if part == "..." {
                return Err(RouteError::MisplacedWildcard {
                    route: route.into(),
                    component: component.into(),
                });
            }
            segments.push(match part.strip_prefix(':') {
                Some("") => {
                    return Err(RouteError::EmptyParam {
                        route: route.into(),
                        component: component.into(),
                    });
                }
                Some(name) => Segment::Param(name.to_string()),
                None => Segment::Literal(part.to_string()),
            });
        }
        let new = Route {
            segments,
            wildcard,
            raw: full,
            component: component.into(),
        };
        if let Some(existing) = self.routes.iter().find(|r| same_shape(r, &new)) {
            return Err(RouteError::Duplicate {
                first: existing.raw.clone(),
                first_component: existing.component.clone(),
                second: new.raw,
                second_component: new.component,
            });
        }
        self.routes.push(new);
        Ok(())
    }

    /// The best route for a request path (without query), if any.
    pub fn route(&self, path: &str) -> Option<RouteMatch<'_>> {
        let parts = split(path);
        self.routes
            .iter()
            .filter_map(|route| {
                let params = matches(route, &parts)?;
                let literals = route
                    .segments
                    .iter()
                    .filter(|s| matches!(s, Segment::Literal(_)))
                    .count();
                let rank = (route.segments.len(), !route.wildcard, literals);
                Some((rank, route, params))
            })
            .max_by_key(|(rank, _, _)| *rank)
            .map(|(_, route, params)| {
                let path_info = if route.wildcard {
                    parts[route.segments.len()..]
                        .iter()
                        .map(|p| format!("/{p}"))
                        .collect::<String>()
                } else {
                    String::new()
                };
                RouteMatch {
                    component: &route.component,
                    raw_route: &route.raw,
                    path_info,
                    params,
                }
            })
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// `COMPONENT: ORIGIN/ROUTE` per route, with ` (wildcard)` after a wildcard's prefix,
    /// as `spin up` lists its "Available Routes"; `origin` is e.g. `http://127.0.0.1:3000`.
    pub fn listing(&self, origin: &str) -> Vec<String> {
        self.routes
            .iter()
            .map(|r| {
                let shown = r.raw.strip_suffix("/...").unwrap_or(&r.raw);
                let wildcard = if r.wildcard { " (wildcard)" } else { "" };
                format!("{}: {origin}{shown}{wildcard}", r.component)
            })
            .collect()
    }
}

fn join_base(base: &str, route: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.is_empty() || base == "/" {
        route.to_string()
    } else {
        format!(
            "{}/{}",
            base.trim_end_matches('/'),
            route.trim_start_matches('/')
        )
    }
}

/// Path segments, ignoring the leading and a trailing `/`.
fn split(path: &str) -> Vec<&str> {
    let trimmed = path.trim_start_matches('/');
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    }
}

fn matches(route: &Route, parts: &[&str]) -> Option<Vec<(String, String)>> {
    if parts.len() < route.segments.len()
        || (!route.wildcard && parts.len() != route.segments.len())
    {
        return None;
    }
    let mut params = Vec::new();
    for (segment, part) in route.segments.iter().zip(parts) {
        match segment {
            Segment::Literal(lit) if lit == part => {}
            Segment::Literal(_) => return None,
            Segment::Param(name) => params.push((name.clone(), (*part).to_string())),
        }
    }
    Some(params)
}

fn same_shape(a: &Route, b: &Route) -> bool {
    a.wildcard == b.wildcard
        && a.segments.len() == b.segments.len()
        && a.segments.iter().zip(&b.segments).all(|pair| match pair {
            (Segment::Literal(x), Segment::Literal(y)) => x == y,
            (Segment::Param(_), Segment::Param(_)) => true,
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        let mut r = Router::default();
        for (route, component) in routes {
            r.add("/", route, component).unwrap();
        }
        r
    }

    fn component(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|m| m.component.to_string())
    }

    #[test]
    fn most_specific_route_wins() {
        let r = router(&[
            ("/...", "catch-all"),
            ("/api/...", "api"),
            ("/api/users", "users"),
            ("/api/:id", "by-id"),
            ("/hello", "hello"),
        ]);
        assert_eq!(component(&r, "/hello").as_deref(), Some("hello"));
        assert_eq!(component(&r, "/hello/").as_deref(), Some("hello"));
        assert_eq!(component(&r, "/hello/x").as_deref(), Some("catch-all"));
        assert_eq!(component(&r, "/api/users").as_deref(), Some("users"));
        assert_eq!(component(&r, "/api/42").as_deref(), Some("by-id"));
        assert_eq!(component(&r, "/api/42/x").as_deref(), Some("api"));
        assert_eq!(component(&r, "/api").as_deref(), Some("api"));
        assert_eq!(component(&r, "/").as_deref(), Some("catch-all"));
    }

    #[test]
    fn exact_routes_do_not_match_below_them() {
        let r = router(&[("/hello", "hello")]);
        assert!(r.route("/hello/world").is_none());
        assert!(r.route("/").is_none());
    }

    #[test]
    fn path_info_and_params() {
        let r = router(&[
            ("/static/...", "files"),
            ("/users/:id/posts/:post", "posts"),
        ]);
        let m = r.route("/static/css/a.css").unwrap();
        assert_eq!(m.path_info, "/css/a.css");
        assert_eq!(m.raw_route, "/static/...");
        assert_eq!(m.component_route(), "/static");
        assert_eq!(r.route("/static").unwrap().path_info, "");
        let m = r.route("/users/7/posts/9").unwrap();
        assert_eq!(
            m.params,
            [("id".into(), "7".into()), ("post".into(), "9".into())]
        );
        assert_eq!(m.path_info, "");
    }

    #[test]
    fn root_wildcard_component_route_is_empty() {
        let r = router(&[("/...", "all")]);
        let m = r.route("/a/b").unwrap();
        assert_eq!(m.path_info, "/a/b");
        assert_eq!(m.component_route(), "");
    }

    #[test]
    fn base_path_prefixes_routes() {
        let mut r = Router::default();
        r.add("/base", "/hello", "c").unwrap();
        assert!(r.route("/hello").is_none());
        assert_eq!(r.route("/base/hello").unwrap().raw_route, "/base/hello");
    }

    #[test]
    fn bad_routes_are_refused_with_the_component() {
        let mut r = Router::default();
        let err = r.add("/", "hello", "c").unwrap_err().to_string();
        assert!(
            err.contains("must start with `/`") && err.contains("`c`"),
            "{err}"
        );
        let err = r.add("/", "/a/.../b", "c").unwrap_err().to_string();
        assert!(err.contains("last segment"), "{err}");
        let err = r.add("/", "/a/:", "c").unwrap_err().to_string();
        assert!(err.contains("needs a name"), "{err}");
        r.add("/", "/users/:id", "a").unwrap();
        let err = r.add("/", "/users/:name", "b").unwrap_err().to_string();
        assert!(
            err.contains("`a`") && err.contains("`b`") && err.contains("same requests"),
            "{err}"
        );
    }
}
