//! Builds the kernel-side programs (`ebpf/sockrec-ebpf`) with the nightly
//! toolchain and bpf-linker, so the `sockrec` binary embeds an eBPF object
//! made from this very source tree (see `EBPF_OBJECT` in src/lib.rs).
fn main() -> anyhow::Result<()> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../ebpf/sockrec-ebpf");
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "sockrec-ebpf",
            root_dir: root,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
}
