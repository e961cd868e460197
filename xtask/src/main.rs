//! `cargo xtask`: the project's own commands.
//!
//! - `cargo xtask demo`: set up a fresh machine, record 10 s of a loopback
//!   workload and show what was caught (README's first command).
//! - `cargo xtask test`: set up a fresh machine and run every test,
//!   including the privileged ones (README's second command; CI runs it).
//! - `cargo xtask setup`: only the set-up: rust-src for the nightly
//!   toolchain and bpf-linker 0.10.0, which build the eBPF programs.
//! - `cargo xtask test-kernel 6.1|6.12|5.10`: the integration tests inside
//!   Debian's kernel of that series under QEMU (see kernel_test.rs).
//! - `cargo xtask bench [PART]...`: what recording and querying cost, next
//!   to bpftrace and DuckDB (see bench.rs and docs/benchmarks.md).
//! - `cargo xtask fuzz [RUNS]`: the capture reader's fuzz target (see
//!   fuzz.rs); `cargo xtask test` replays its corpus through it.
//! - `cargo xtask workload udp|tcp SECONDS`: a loopback workload that makes
//!   socket calls as fast as it can (for demos and benchmarks).

use anyhow::{Context as _, Result, bail};
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

mod bench;
mod fixtures;
mod fuzz;
mod kernel_test;
mod workload;

/// bpf-linker 0.10 links with the Rust toolchain's own LLVM; later versions
/// want a system LLVM 21+ that Debian 12 lacks.
const BPF_LINKER_VERSION: &str = "0.10.0";
/// The toolchain that builds the eBPF crates (aya-build's default).
const EBPF_TOOLCHAIN: &str = "nightly";
/// moto, whose `moto_server` is the S3-compatible store of the `store::`
/// tests.
const MOTO_VERSION: &str = "5.2.1";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["setup"] => setup(),
        ["test", rest @ ..] => {
            setup()?;
            test_servers()?;
            test(rest)?;
            // The capture reader's fuzz target over its corpus alone:
            // repeatable (fuzz.rs says why exploring is not).
            fuzz::run_fuzz(0)
        }
        ["fuzz"] => fuzz::run_fuzz(fuzz::DEFAULT_RUNS),
        ["fuzz", runs] => fuzz::run_fuzz(runs.parse().context("RUNS must be a number")?),
        ["test-kernel", series] => {
            setup()?;
            kernel_test::run_kernel_test(series)
        }
        ["demo"] => {
            let started = Instant::now();
            setup()?;
            demo()?;
            eprintln!(
                "demo: set-up, build, recording and reports took {:.0} s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        ["bench", rest @ ..] => bench::run(rest),
        ["fixtures", rest @ ..] => fixtures::main(rest),
        ["workload", kind, secs] => {
            let secs: f64 = secs.parse().context("SECONDS must be a number")?;
            let n = workload::run(kind, Duration::from_secs_f64(secs))?;
            eprintln!("workload {kind}: {n} operations in {secs} s");
            Ok(())
        }
        _ => bail!(
            "usage: cargo xtask setup | test [ARGS] | test-kernel 6.1|6.12|5.10 | demo | bench [PART].. | fuzz [RUNS] | workload udp|tcp SECONDS"
        ),
    }
}

fn root() -> PathBuf {
    // `cargo run` (the `cargo xtask` alias) says which checkout this is at
    // run time. The compile-time path can name another checkout: cargo
    // does not re-link an up-to-date xtask into a target dir that another
    // checkout shared (CARGO_TARGET_DIR) and rebuilt it into.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir.parent().unwrap().to_path_buf()
}

/// Where cargo puts its output: `CARGO_TARGET_DIR` when set (as cargo
/// itself reads it, relative to the workspace), else the workspace's
/// `target/`.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => root.join(d),
        _ => root.join("target"),
    }
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("+ {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Installs what building the eBPF programs needs, if it is missing.
fn setup() -> Result<()> {
    let has_nightly =
        output(Command::new("rustup").args(["run", EBPF_TOOLCHAIN, "rustc", "--version"]))
            .is_some();
    if !has_nightly {
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            EBPF_TOOLCHAIN,
            "--profile",
            "minimal",
        ]))?;
    }
    let components = output(Command::new("rustup").args([
        "component",
        "list",
        "--installed",
        "--toolchain",
        EBPF_TOOLCHAIN,
    ]))
    .unwrap_or_default();
    if !components.lines().any(|l| l.starts_with("rust-src")) {
        run(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            EBPF_TOOLCHAIN,
        ]))?;
    }
    cargo_tool(&["bpf-linker"], "bpf-linker", BPF_LINKER_VERSION)
}

/// Installs `krate@version` with `cargo install` unless `version_cmd`
/// (e.g. `bpf-linker --version`) already says that version.
fn cargo_tool(version_cmd: &[&str], krate: &str, version: &str) -> Result<()> {
    let (bin, args) = version_cmd.split_first().expect("a command");
    let have = output(Command::new(bin).args(args).arg("--version")).unwrap_or_default();
    if have.contains(version) {
        return Ok(());
    }
    run(Command::new("cargo").args([
        "install",
        &format!("{krate}@{version}"),
        "--locked",
        "--force",
    ]))
}

/// moto's S3 server (PyPI's `moto[server]`, pinned) and curl, the real
/// store and client the object storage tests (`store::`) start, if missing.
fn test_servers() -> Result<()> {
    let has_server = output(Command::new("which").arg("moto_server")).is_some();
    let version =
        output(Command::new("python3").args(["-c", "import moto; print(moto.__version__)"]));
    if !has_server || version.is_none_or(|v| v.trim() != MOTO_VERSION) {
        run(Command::new("python3").args([
            "-m",
            "pip",
            "install",
            "--quiet",
            &format!("moto[server]=={MOTO_VERSION}"),
        ]))?;
    }
    if output(Command::new("curl").arg("--version")).is_none() {
        run(Command::new("apt-get").args(["install", "-y", "-q", "curl"]))?;
    }
    Ok(())
}

/// Every test of the workspace; the integration tests load real programs,
/// so they run as root (CI runs as root; under CI they never skip).
fn test(extra: &[&str]) -> Result<()> {
    if unsafe_geteuid() != 0 {
        eprintln!(
            "note: not root: the privileged tests will be reported as ignored (CI fails instead)"
        );
    }
    run(Command::new("cargo")
        .current_dir(root())
        .arg("test")
        .args(extra))
}

fn unsafe_geteuid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|u| u.parse().ok())
        .unwrap_or(u32::MAX)
}

/// Record 10 s while a loopback workload runs, then show the capture.
///
/// It builds the `quick` profile (Cargo.toml), which xtask itself is built
/// with: the recorder as in release, DataFusion unoptimised, so a fresh
/// machine shows a report in minutes; `cargo build --release` is the build
/// to keep. Without object storage (the `s3` feature: an HTTP and TLS
/// client), which a loopback demo does not use.
fn demo() -> Result<()> {
    let root = root();
    run(Command::new("cargo").current_dir(&root).args([
        "build",
        "--profile",
        "quick",
        "--bin",
        "sockrec",
        "--no-default-features",
        "--features",
        "record",
    ]))?;
    let sockrec = target_dir(&root).join("quick/sockrec");
    let capture = root.join("demo.parquet");
    let mut rec = Command::new(&sockrec);
    rec.args(["record", "-d", "10s", "--force", "-o"])
        .arg(&capture);
    eprintln!("+ {rec:?}");
    let mut rec = rec.spawn().context("starting sockrec record")?;
    // Give the recorder time to attach, then keep the loopback busy.
    std::thread::sleep(Duration::from_secs(2));
    let started = Instant::now();
    let n = workload::run("tcp", Duration::from_secs(3))?
        + workload::run("udp", Duration::from_secs(3))?;
    eprintln!(
        "demo workload: {n} socket operations in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let status = rec.wait()?;
    if !status.success() {
        bail!("sockrec record failed: {status}");
    }
    run(Command::new(&sockrec).arg("info").arg(&capture))?;
    // Two of the book's reports over what was just recorded.
    for report in ["sockstat", "soprotocol"] {
        run(Command::new(&sockrec)
            .args(["query", report, "-i"])
            .arg(&capture))?;
    }
    Ok(())
}
