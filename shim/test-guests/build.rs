//! Records the target triple, so `cargo metadata` can be limited to this platform's
//! packages (the only ones a build has downloaded).
fn main() {
    println!(
        "cargo:rustc-env=TEST_GUESTS_TARGET={}",
        std::env::var("TARGET").expect("cargo sets TARGET for build scripts")
    );
}
