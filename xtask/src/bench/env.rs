//! The bench's surroundings: the binaries it measures (built here, release),
//! the tools it compares with (installed when missing: machines are fresh),
//! its scratch directory, and the facts about the machine that go with
//! every figure.

use super::{Options, Part};
use anyhow::{Result, bail};
use std::{path::PathBuf, process::Command};

pub struct Env {
    pub root: PathBuf,
    /// `target/release/sockrec`, the binary measured.
    pub sockrec: PathBuf,
    /// `target/release/xtask`: runs the workloads as child processes (see
    /// `workload::Workload` for why children).
    pub xtask: PathBuf,
    /// Scratch: captures, bpftrace's stderr, the saved report
    /// (`target/bench`, ignored by git like the rest of `target/`).
    pub work: PathBuf,
}

impl Env {
    pub fn prepare(opts: &Options) -> Result<Env> {
        let root = crate::root();
        let needs_root = opts
            .parts
            .iter()
            .any(|&p| !matches!(p, Part::Query | Part::Fleet) || opts.capture.is_none());
        if needs_root && crate::unsafe_geteuid() != 0 {
            bail!(
                "the recording parts load eBPF programs: run as root \
                 (`sudo -E cargo xtask bench ...`); `bench query --capture FILE` runs without"
            );
        }
        // Release builds: the figures are about the binary users run. The
        // workload runs from a release xtask too, so its loop is optimised
        // the same way whichever profile `cargo xtask` itself was built in.
        for bin in ["sockrec", "xtask"] {
            if bin == "sockrec" && opts.sockrec.is_some() {
                continue;
            }
            crate::run(Command::new("cargo").current_dir(&root).args([
                "build",
                "--release",
                "--bin",
                bin,
            ]))?;
        }
        let release = crate::target_dir(&root).join("release");
        let sockrec = match &opts.sockrec {
            Some(p) => std::path::absolute(p)?,
            None => release.join("sockrec"),
        };
        let env = Env {
            sockrec,
            xtask: release.join("xtask"),
            work: crate::target_dir(&root).join("bench"),
            root,
        };
        std::fs::create_dir_all(&env.work)?;
        if opts
            .parts
            .iter()
            .any(|p| matches!(p, Part::Overhead | Part::Kernel))
        {
            ensure_bpf_tools()?;
        }
        Ok(env)
    }

    /// A file in the scratch directory.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.work.join(name)
    }
}

fn which(tool: &str) -> bool {
    Command::new("which")
        .arg(tool)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// bpftrace (the comparison) and bpftool (program names for the kernel
/// part): from the distribution, only when missing.
fn ensure_bpf_tools() -> Result<()> {
    if which("bpftrace") && which("bpftool") {
        return Ok(());
    }
    crate::run(Command::new("apt-get").arg("update"))?;
    crate::run(
        Command::new("apt-get")
            .args(["install", "-y", "bpftrace", "bpftool"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// The DuckDB Python module (the query part's comparison), from PyPI, only
/// when missing.
pub fn ensure_duckdb() -> Result<String> {
    let version = || {
        crate::output(
            Command::new("python3").args(["-c", "import duckdb; print(duckdb.__version__)"]),
        )
    };
    if let Some(v) = version() {
        return Ok(v.trim().to_string());
    }
    crate::run(Command::new("python3").args(["-m", "pip", "install", "--quiet", "duckdb"]))?;
    match version() {
        Some(v) => Ok(v.trim().to_string()),
        None => bail!("the duckdb Python module is still missing after pip install"),
    }
}

/// What the figures were taken on, for the report's header.
pub fn machine() -> Vec<(&'static str, String)> {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".into());
    let mem_kib: u64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cmd_out = |c: &mut Command| {
        crate::output(c)
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "unknown".into())
    };
    vec![
        (
            "date",
            cmd_out(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])),
        ),
        (
            "kernel (uname -r)",
            read("/proc/sys/kernel/osrelease").trim().to_string(),
        ),
        ("nproc", nproc.to_string()),
        ("cpu", model),
        ("memory", format!("{} MiB", mem_kib / 1024)),
        (
            "load average at start",
            read("/proc/loadavg")
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        (
            "bpftrace",
            cmd_out(Command::new("bpftrace").arg("--version")),
        ),
        ("tracing BPF programs loaded by others", tracing_progs()),
    ]
}

/// How many tracing BPF programs (tracepoints, kprobes, fentry...) others
/// have loaded: each slows every workload, alone included, so a figure
/// taken while a test suite records is not one of an idle machine.
fn tracing_progs() -> String {
    let listing = crate::output(Command::new("bpftool").args(["prog", "show"]));
    let Some(listing) = listing else {
        return "unknown (no bpftool)".into();
    };
    let n = listing
        .lines()
        .filter_map(|l| l.split_once(": ")?.1.split_whitespace().next())
        .filter(|ty| {
            matches!(
                *ty,
                "tracepoint" | "raw_tracepoint" | "kprobe" | "tracing" | "perf_event"
            )
        })
        .count();
    n.to_string()
}
