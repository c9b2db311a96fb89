//! The JavaScript sample (`examples/hello-js`), built with the official Spin JS build
//! tools (`@spinframework/build-tools`: componentize-js, StarlingMonkey), served by the
//! real `spin-run`, compiled and then from the compile cache.

mod support;

use support::{Runner, built_sample};

#[test]
fn js_sample_serves_from_a_compile_and_from_the_cache() {
    let Some(dir) = built_sample("hello-js", "../build-js.sh") else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let cache_args = ["--cache-dir", cache.path().to_str().unwrap()];
    for start in ["compiled", "from the cache"] {
        let run = Runner::start(&dir, &cache_args, &[]).unwrap();
        // Every request gets a fresh instance whose memory was reset in place.
        for _ in 0..3 {
            let r = run.get("/");
            assert_eq!(
                (r.status, r.body.as_str()),
                (200, "Hello from JavaScript on Spin\n"),
                "{start}: {}",
                run.log()
            );
        }
    }
}
