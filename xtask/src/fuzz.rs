//! `cargo xtask fuzz [RUNS]`: the capture reader's fuzz target
//! (`capture/fuzz`, cargo-fuzz and libFuzzer on the nightly toolchain).
//!
//! The starting corpus is made afresh each time: the fixtures (real
//! captures) and `capture/fuzz/corpus/capture_reader/`, the inputs earlier
//! runs found that made sockrec panic. With a fixed seed and a fixed
//! number of runs, what a run tries is the same every time, so `cargo
//! xtask test` (and CI) can run it without failing at random; a longer
//! exploration is `cargo xtask fuzz 5000000`. An input that fails is left
//! in `capture/fuzz/artifacts/`: fix the reader, then add the input to the
//! corpus (and `query::bad_fuzz_corpus` tests it from then on).

use anyhow::Result;
use std::process::Command;

use crate::{EBPF_TOOLCHAIN, root, run};

/// cargo-fuzz's version (0.13.2 builds with the pinned toolchains).
const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// The inputs `cargo xtask test` tries: about 30 s at ~2000 a second.
pub const TEST_RUNS: u64 = 60_000;

pub fn run_fuzz(runs: u64) -> Result<()> {
    crate::cargo_tool(&["cargo", "fuzz"], "cargo-fuzz", CARGO_FUZZ_VERSION)?;
    let root = root();
    let corpus = crate::target_dir(&root).join("fuzz-corpus/capture_reader");
    let _ = std::fs::remove_dir_all(&corpus);
    std::fs::create_dir_all(&corpus)?;
    for dir in ["fixtures", "capture/fuzz/corpus/capture_reader"] {
        for entry in std::fs::read_dir(root.join(dir))? {
            let path = entry?.path();
            if path.is_file() {
                std::fs::copy(&path, corpus.join(path.file_name().unwrap()))?;
            }
        }
    }
    run(Command::new("cargo")
        .current_dir(root.join("capture"))
        .arg(format!("+{EBPF_TOOLCHAIN}"))
        .args(["fuzz", "run", "capture_reader"])
        .arg(&corpus)
        .args([
            "--",
            "-seed=1",
            &format!("-runs={runs}"),
            // A hang or a footer-sized allocation is a failure too.
            "-timeout=10",
            "-rss_limit_mb=1024",
        ]))
}
