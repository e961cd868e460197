//! Builds the kernel-side programs (`ebpf/sockrec-ebpf`) with the nightly
//! toolchain and bpf-linker, so the `sockrec` binary embeds an eBPF object
//! made from this very source tree (see `EBPF_OBJECT` in src/lib.rs).
fn main() -> anyhow::Result<()> {
    // Read at run time: the compile-time value is the checkout this script
    // was first built in, and cargo reuses the script across checkouts
    // that share a target directory, which then built the other checkout's
    // programs.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")?;
    let root = format!("{manifest_dir}/../ebpf/sockrec-ebpf");
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "sockrec-ebpf",
            root_dir: &root,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
}
