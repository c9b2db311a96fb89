//! OCI image references as users type them.

pub use oci_client::Reference;

use crate::error::ReferenceError;

/// Parses `text` (`REGISTRY/REPOSITORY[:TAG][@DIGEST]`); a bare name means Docker Hub,
/// as in `docker push`.
pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
    let problem = |problem: String| ReferenceError {
        reference: text.to_string(),
        problem,
    };
    if text.trim().is_empty() {
        return Err(problem("it is empty".into()));
    }
    if text.contains("://") {
        return Err(problem("leave out the URL scheme".into()));
    }
    Reference::try_from(text).map_err(|e| problem(e.to_string()))
}

/// The last path segment of the repository: `ghcr.io/me/hello:v1` → `hello`.
pub fn app_name(reference: &Reference) -> &str {
    reference
        .repository()
        .rsplit('/')
        .next()
        .unwrap_or(reference.repository())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_last_repository_segment() {
        let r = parse("localhost:5000/team/hello-app:v1").unwrap();
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(app_name(&r), "hello-app");
        assert_eq!(app_name(&parse("hello").unwrap()), "hello");
    }

    #[test]
    fn malformed_references_say_how_to_write_one() {
        for bad in [
            "",
            "http://localhost:5000/x:v1",
            "Hello World",
            "x:tag:other",
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("REGISTRY/REPOSITORY:TAG"), "{bad}: {e}");
        }
    }
}
