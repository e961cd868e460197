//! `cargo xtask bench`: the benchmarks of issue 4, run on this machine.
//!
//! ```text
//! cargo xtask bench [overhead|kernel|throughput|size|query|memory|fleet|all]... [--quick]
//!                   [--rounds N] [--secs S] [--capture FILE] [--sockrec FILE]
//! ```
//!
//! Every part but `query` loads eBPF programs, so runs as root. Each part
//! prints its detailed figures as it goes; the run ends with one table that
//! puts every headline figure next to its target (OK / MISSED), and the
//! whole output is also saved, with the machine it ran on and the command,
//! to `target/bench/report.md` (what `docs/benchmarks.md` is updated from).
//!
//! Parts (see `docs/benchmarks.md` for what each measures and why so):
//! - `overhead`: the loopback workloads alone, under `sockrec record`, and
//!   under bpftrace's sockstat and soconnect, in alternating rounds;
//! - `kernel`: ns per run of each program (`bpf_stats_enabled`), sockrec's
//!   next to bpftrace's, on the same workloads;
//! - `throughput`: events/s recorded without loss, recorder CPU per event,
//!   and where loss starts (more loops, smaller buffers);
//! - `size`: bytes per event on disk, and what encodings and row-group
//!   sizes would change;
//! - `query`: the four reports of `sockrec query` on a 10M-event capture,
//!   against the same reports in DuckDB;
//! - `memory`: the recorder's peak RSS over a busy recording;
//! - `fleet`: the reports over 8 hosts' captures (50M events) locally and
//!   on a local Ballista cluster of 1 and 2 executors.
//!
//! Timings are only ever printed, never asserted: they depend on the
//! machine and on what else runs on it.

use anyhow::{Context as _, Result, bail};
use std::{path::PathBuf, time::Duration};

mod bpf_stats;
mod bpftrace;
mod env;
mod fleet;
mod kernel;
mod memory;
mod overhead;
mod parquet_io;
mod query;
mod recorder;
mod report;
mod size;
mod throughput;
mod tracer;
mod workload;

use env::Env;
use report::Report;

/// The parts, in the order `all` runs them: the cheap and the
/// timing-sensitive ones first, the query part (which writes a large
/// capture) and the 60 s memory run last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Overhead,
    Kernel,
    Throughput,
    Size,
    Query,
    Memory,
    Fleet,
}

impl Part {
    const ALL: [Part; 7] = [
        Part::Overhead,
        Part::Kernel,
        Part::Throughput,
        Part::Size,
        Part::Query,
        Part::Memory,
        Part::Fleet,
    ];

    fn name(self) -> &'static str {
        match self {
            Part::Overhead => "overhead",
            Part::Kernel => "kernel",
            Part::Throughput => "throughput",
            Part::Size => "size",
            Part::Query => "query",
            Part::Memory => "memory",
            Part::Fleet => "fleet",
        }
    }
}

/// What the command line asked for.
#[derive(Debug)]
pub struct Options {
    pub parts: Vec<Part>,
    /// Shorter rounds and fewer of them: checks the harness, figures noisier.
    pub quick: bool,
    /// Overrides the number of alternating rounds of `overhead`.
    pub rounds: Option<usize>,
    /// Overrides the length of one timed workload run, seconds.
    pub secs: Option<f64>,
    /// A recorded capture to build the query part's large capture from,
    /// instead of recording one (lets `query` run without root).
    pub capture: Option<PathBuf>,
    /// A sockrec binary to measure instead of building
    /// `target/release/sockrec` (another build, a shim for testing).
    pub sockrec: Option<PathBuf>,
}

impl Options {
    fn parse(args: &[&str]) -> Result<Options> {
        let mut o = Options {
            parts: Vec::new(),
            quick: false,
            rounds: None,
            secs: None,
            capture: None,
            sockrec: None,
        };
        let mut it = args.iter();
        while let Some(&a) = it.next() {
            match a {
                "--quick" => o.quick = true,
                "--rounds" => {
                    let n: usize = it
                        .next()
                        .context("--rounds needs a number")?
                        .parse()
                        .context("--rounds needs a number")?;
                    if n == 0 {
                        bail!("--rounds must be at least 1");
                    }
                    o.rounds = Some(n);
                }
                "--secs" => {
                    let s: f64 = it
                        .next()
                        .context("--secs needs a number")?
                        .parse()
                        .context("--secs needs a number")?;
                    if s.is_nan() || s <= 0.0 {
                        bail!("--secs must be more than 0");
                    }
                    o.secs = Some(s);
                }
                "--capture" => {
                    o.capture = Some(PathBuf::from(it.next().context("--capture needs a file")?))
                }
                "--sockrec" => {
                    o.sockrec = Some(PathBuf::from(it.next().context("--sockrec needs a file")?))
                }
                "all" => o.parts.extend(Part::ALL),
                name => match Part::ALL.iter().find(|p| p.name() == name) {
                    Some(&p) => o.parts.push(p),
                    None => bail!("{}", usage()),
                },
            }
        }
        if o.parts.is_empty() {
            o.parts.extend(Part::ALL);
        }
        o.parts.sort();
        o.parts.dedup();
        Ok(o)
    }

    /// Length of one timed workload run, given the part's normal and quick
    /// lengths.
    pub fn secs(&self, normal: f64, quick: f64) -> Duration {
        Duration::from_secs_f64(self.secs.unwrap_or(if self.quick { quick } else { normal }))
    }
}

fn usage() -> String {
    "usage: cargo xtask bench [overhead|kernel|throughput|size|query|memory|fleet|all]... \
     [--quick] [--rounds N] [--secs S] [--capture FILE] [--sockrec FILE]"
        .into()
}

/// `cargo xtask bench ...`.
pub fn run(args: &[&str]) -> Result<()> {
    // The workload child the parts spawn (see `workload::Workload`).
    if let ["--workload", kind, secs] = args {
        return workload::workload_child(kind, secs);
    }
    if matches!(args, ["-h" | "--help"]) {
        println!("{}", usage());
        return Ok(());
    }
    let opts = Options::parse(args)?;
    bpf_stats::on_interrupt_restore();
    let env = Env::prepare(&opts)?;
    let mut report = Report::new(&env, args);
    for &part in &opts.parts {
        report.section(part.name());
        let result = match part {
            Part::Overhead => overhead::run(&env, &opts, &mut report),
            Part::Kernel => kernel::run(&env, &opts, &mut report),
            Part::Throughput => throughput::run(&env, &opts, &mut report),
            Part::Size => size::run(&env, &opts, &mut report),
            Part::Query => query::run(&env, &opts, &mut report),
            Part::Memory => memory::run(&env, &opts, &mut report),
            Part::Fleet => fleet::run(&env, &opts, &mut report),
        };
        // One part failing (a tool missing, a report not written yet) should
        // not cost the figures of the others.
        if let Err(e) = result {
            report.say(format!("{} FAILED: {e:#}", part.name()));
            report.failed(part.name(), format!("{e:#}"));
        }
    }
    report.finish(&env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_default_to_all_in_run_order_without_repeats() {
        let o = Options::parse(&[]).unwrap();
        assert_eq!(o.parts, Part::ALL);
        let o = Options::parse(&["memory", "size", "memory", "--quick"]).unwrap();
        assert_eq!(o.parts, [Part::Size, Part::Memory]);
        assert!(o.quick);
        let o = Options::parse(&["all", "query"]).unwrap();
        assert_eq!(o.parts, Part::ALL);
    }

    #[test]
    fn options_take_values_and_refuse_nonsense() {
        let o = Options::parse(&["overhead", "--rounds", "7", "--secs", "0.5"]).unwrap();
        assert_eq!(o.rounds, Some(7));
        assert_eq!(o.secs(3.0, 1.0), Duration::from_millis(500));
        let o = Options::parse(&["--quick"]).unwrap();
        assert_eq!(o.secs(3.0, 1.0), Duration::from_secs(1));
        let o = Options::parse(&["query", "--capture", "c.parquet"]).unwrap();
        assert_eq!(o.capture, Some(PathBuf::from("c.parquet")));
        for bad in [
            &["nonsense"][..],
            &["--rounds"],
            &["--rounds", "0"],
            &["--secs", "-1"],
            &["--secs", "NaN"],
        ] {
            assert!(Options::parse(bad).is_err(), "{bad:?}");
        }
    }
}
