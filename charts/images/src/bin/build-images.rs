//! `build-images`: writes the chart's images as OCI image layout tarballs.
//!
//! Then: `ctr -n k8s.io images import FILE` on a node, `kind load image-archive FILE`,
//! `docker load -i FILE`, or `skopeo copy oci-archive:FILE docker://REGISTRY/NAME:TAG`.

use std::path::PathBuf;

use clap::Parser;
use spin_kube_images::{IMAGES, build};

#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Where the binaries are [default: this binary's directory, i.e. the same profile].
    #[arg(long, env = "SPIN_KUBE_BIN_DIR")]
    bin_dir: Option<PathBuf>,
    /// Where the tarballs go [default: <bin-dir>/images].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Repository prefix of the image names (the chart's default).
    #[arg(long, default_value = "ghcr.io/spin-kube-rs")]
    repository: String,
    /// Image tag (the chart's appVersion by default).
    #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
    tag: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin_dir = match args.bin_dir {
        Some(dir) => dir,
        None => std::env::current_exe()?
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default(),
    };
    let out = args.out.unwrap_or_else(|| bin_dir.join("images"));
    std::fs::create_dir_all(&out)?;
    for spec in IMAGES {
        let reference = format!("{}/{}:{}", args.repository, spec.name, args.tag);
        let tar = build(&spec, &bin_dir, &reference)?;
        let path = out.join(format!("{}.tar", spec.name));
        std::fs::write(&path, &tar)?;
        println!(
            "{reference}  {}  ({:.1} MiB)",
            path.display(),
            tar.len() as f64 / (1 << 20) as f64
        );
    }
    Ok(())
}
