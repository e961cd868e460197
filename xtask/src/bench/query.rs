//! Part 5, query: the four reports of `sockrec query` on a capture of at
//! least 10M events, against the same reports written as DuckDB SQL
//! (`queries/*.sql` through `bench/duckdb/run.py`) on the same file.
//!
//! The capture: a busy recording (the UDP and TCP loops at once; or the
//! capture given with `--capture`), its rows repeated with shifted times
//! until there are 10M (`parquet_io::repeat`), written with the recorder's
//! settings and metadata. Both sides write their whole result as CSV to
//! /dev/null, after one untimed run each (so both read from the page
//! cache); the figure is the median of the timed runs. sockrec's time is
//! its whole process (start, footer, plan, output), DuckDB's the query in
//! an already running Python: a few ms in DuckDB's favour. sockrec is also
//! timed in its default format (`tool`, as the BPF tool prints), which is
//! what a user waits for; the comparison is on CSV.

use anyhow::{Context as _, Result, bail};
use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::Instant,
};

use super::parquet_io;
use super::recorder::Recorder;
use super::report::{Report, Status, median, si};
use super::workload::run_workloads;
use super::{Options, env, env::Env};

pub const REPORTS: [&str; 4] = ["sockstat", "sofamily", "soprotocol", "soconnect"];
const MIN_ROWS: u64 = 10_000_000;

pub fn run(env: &Env, opts: &Options, report: &mut Report) -> Result<()> {
    let runs = if opts.quick { 1 } else { 3 };
    let list = Command::new(&env.sockrec)
        .args(["query", "--list"])
        .stdin(Stdio::null())
        .output();
    let listed = match list {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).trim().replace('\n', " "),
                Err(e) => e.to_string(),
            };
            report.say(format!(
                "Skipped: `sockrec query --list` failed ({why}): this sockrec has no \
                 analyzer yet. Re-run `cargo xtask bench query` once it has."
            ));
            report.figure(
                "reports on 10M events, sockrec / DuckDB",
                "skipped: no `sockrec query`",
                "≤ 1.0x",
                Status::Skipped,
            );
            return Ok(());
        }
    };
    let duckdb = env::ensure_duckdb()?;

    let src = match &opts.capture {
        Some(p) => p.clone(),
        None => record_busy(env, opts)?,
    };
    eprintln!(
        "bench: query: repeating {} to {MIN_ROWS} rows",
        src.display()
    );
    let big = env.scratch("query-10M.parquet");
    let rows = parquet_io::repeat(&src, &big, MIN_ROWS)?;
    let bytes = std::fs::metadata(&big)?.len();
    report.say(format!(
        "Capture: {} events, {} bytes ({} repeated with shifted times); DuckDB {duckdb}; \
         median of {runs} timed run(s) after one untimed.",
        si(rows as f64),
        si(bytes as f64),
        src.display()
    ));
    report.say(String::new());

    let mut sockrec_s = Vec::new();
    let mut tool_s = Vec::new();
    for name in REPORTS {
        if !listed.split_whitespace().any(|w| w == name) {
            sockrec_s.push(Err(format!("`{name}` not in `sockrec query --list`")));
            continue;
        }
        eprintln!("bench: query: sockrec query {name}");
        sockrec_s.push(time_sockrec(env, name, &big, runs, "csv").map_err(|e| format!("{e:#}")));
        // What a user sees by default; not the comparison (DuckDB writes CSV).
        tool_s.push(time_sockrec(env, name, &big, runs, "tool").ok());
    }
    eprintln!("bench: query: DuckDB");
    let duck = time_duckdb(env, &big, runs)?;

    let mut rows_out = Vec::new();
    for ((name, s), tool) in REPORTS.iter().zip(sockrec_s).zip(tool_s) {
        let d = duck.iter().find(|(n, _)| n == name).map(|(_, t)| *t);
        let (s_text, figure, status) = match (&s, d) {
            (Ok(s), Some(d)) => (
                format!("{s:.3}"),
                format!("{:.2}x ({s:.3} s vs {d:.3} s)", s / d),
                Status::at_most(s / d, 1.0),
            ),
            (Ok(s), None) => (format!("{s:.3}"), "DuckDB failed".into(), Status::Failed),
            (Err(e), _) => (e.clone(), e.clone(), Status::Failed),
        };
        rows_out.push(vec![
            format!("`{name}`"),
            s_text,
            d.map_or("failed".into(), |d| format!("{d:.3}")),
            match (&s, d) {
                (Ok(s), Some(d)) => format!("{:.2}x", s / d),
                _ => String::new(),
            },
            tool.map_or("failed".into(), |t| format!("{t:.3}")),
        ]);
        report.figure(
            format!("`sockrec query {name}` on 10M events, vs DuckDB"),
            figure,
            "≤ 1.0x",
            status,
        );
    }
    report.table(
        &[
            "report",
            "sockrec query (s)",
            "DuckDB (s)",
            "sockrec / DuckDB",
            "sockrec, tool format (s)",
        ],
        &rows_out,
    );
    Ok(())
}

/// Records the UDP and TCP loops at once: a capture with every report's
/// material (connects and accepts as well as messages).
pub(super) fn record_busy(env: &Env, opts: &Options) -> Result<PathBuf> {
    let dur = opts.secs(10.0, 5.0);
    eprintln!("bench: query: recording a busy loopback for the source capture");
    let path = env.scratch("query-source.parquet");
    let rec = Recorder::start(env, &path, &[])?;
    run_workloads(env, &["udp", "tcp"], dur)?;
    let r = rec.stop()?;
    if r.events == 0 {
        bail!("the source recording holds no events");
    }
    Ok(path)
}

/// Median wall time of `sockrec query NAME -i CAPTURE --format FORMAT > /dev/null`.
fn time_sockrec(
    env: &Env,
    name: &str,
    capture: &std::path::Path,
    runs: usize,
    format: &str,
) -> Result<f64> {
    let mut times = Vec::new();
    for i in 0..=runs {
        let started = Instant::now();
        let out = Command::new(&env.sockrec)
            .args(["query", name, "-i"])
            .arg(capture)
            .args(["--format", format])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .context("running sockrec query")?;
        let t = started.elapsed().as_secs_f64();
        if !out.status.success() {
            bail!(
                "sockrec query {name} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        if i > 0 {
            times.push(t);
        }
    }
    Ok(median(&times))
}

/// Median seconds per report in DuckDB, from `bench/duckdb/run.py`.
fn time_duckdb(env: &Env, capture: &std::path::Path, runs: usize) -> Result<Vec<(String, f64)>> {
    let out = Command::new("python3")
        .arg(env.root.join("bench/duckdb/run.py"))
        .arg(capture)
        .arg(runs.to_string())
        .args(REPORTS)
        .stdin(Stdio::null())
        .output()
        .context("running bench/duckdb/run.py")?;
    if !out.status.success() {
        bail!(
            "bench/duckdb/run.py failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (name, secs) = l.split_once(' ')?;
            Some((name.to_string(), secs.trim().parse().ok()?))
        })
        .collect())
}
