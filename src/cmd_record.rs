//! `sockrec record`: the command line of the recorder.

use anyhow::Result;
use clap::Args;
use sockrec_analyzer::live::{LiveOptions, LiveReports};
use sockrec_analyzer::{Limits, Query};
use sockrec_capture::terminal::escape;
use sockrec_recorder::{Filters, LiveSink, RecordOptions, options};

use crate::cmd_query::{FormatArg, parse_interval, resolve};
use std::{io::IsTerminal as _, path::PathBuf, time::Duration};

#[derive(Args)]
pub struct RecordArgs {
    /// How long to record (e.g. 60s, 5m, 1h30m); without it, until Ctrl-C or SIGTERM.
    #[arg(short, long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Capture file to write [default: sockrec-HOST-START.parquet in the current directory].
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Overwrite the capture file if it exists.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    what: WhatArgs,
    /// Print these reports live on stdout while recording: built-in
    /// reports (sockrec query --list) or .sql files, comma-separated.
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    report: Vec<String>,
    /// The live reports' format [default: tool for a built-in report, table for other SQL].
    #[arg(short, long, value_enum, requires = "report")]
    format: Option<FormatArg>,
    /// Live reports: the length of interval reports' intervals (sockstat,
    /// tcptop), and how often summaries print, in seconds [default: 1
    /// for intervals; summaries only at the end].
    #[arg(long, value_name = "SECONDS", requires = "report", value_parser = parse_interval)]
    interval: Option<i64>,
}

/// `sockrec watch`: `record --report` without a capture.
#[derive(Args)]
pub struct WatchArgs {
    /// The reports to print live: built-in reports (sockrec query --list)
    /// or .sql files, comma-separated.
    #[arg(required = true, value_name = "REPORT", value_delimiter = ',')]
    reports: Vec<String>,
    /// How long to watch (e.g. 60s, 5m); without it, until Ctrl-C or SIGTERM.
    #[arg(short, long, value_parser = parse_duration)]
    duration: Option<Duration>,
    #[command(flatten)]
    what: WhatArgs,
    /// Output format [default: tool for a built-in report, table for other SQL].
    #[arg(short, long, value_enum)]
    format: Option<FormatArg>,
    /// The length of interval reports' intervals (sockstat, tcptop), and
    /// how often summaries print, in seconds [default: 1 for intervals;
    /// summaries only at the end].
    #[arg(long, value_name = "SECONDS", value_parser = parse_interval)]
    interval: Option<i64>,
}

/// What to record, and how: the filters, the ring buffer, the status line
/// (`record` and `watch` alike).
#[derive(Args)]
struct WhatArgs {
    /// Only this process id.
    #[arg(short, long)]
    pid: Option<u32>,
    /// Only tasks with this name (as in /proc/PID/comm; 15 characters at most).
    #[arg(long)]
    comm: Option<String>,
    /// Only tasks in this cgroup v2 directory or below it.
    #[arg(long)]
    cgroup: Option<PathBuf>,
    /// Only these event kinds, comma-separated: socket,socketpair,bind,connect,accept,accept4,send,recv,listen,tcp_state,tcp_retransmit,close.
    #[arg(long)]
    events: Option<String>,
    /// Ring buffer size in MiB (a power of two).
    #[arg(long, default_value_t = sockrec_recorder::DEFAULT_BUFFER_BYTES >> 20, value_parser = parse_buffer_mib)]
    buffer_mib: u32,
    /// No status line, even on a terminal.
    #[arg(short, long)]
    quiet: bool,
}

impl WhatArgs {
    /// The options of a recording to `output` (none: watch only).
    fn options(
        self,
        duration: Option<Duration>,
        output: Option<PathBuf>,
        force: bool,
    ) -> Result<RecordOptions> {
        let filters = Filters {
            pid: self.pid,
            comm: self.comm,
            cgroup: self
                .cgroup
                .as_deref()
                .map(options::resolve_cgroup)
                .transpose()?,
            events: self
                .events
                .as_deref()
                .map(sockrec_capture::schema::parse_event_kinds)
                .transpose()?
                .unwrap_or_default(),
        };
        Ok(RecordOptions {
            duration,
            output,
            force,
            filters,
            buffer_bytes: self.buffer_mib << 20,
            status: !self.quiet && std::io::stderr().is_terminal(),
        })
    }
}

/// `--duration`: humantime (`90s`, `1h30m`), more than nothing. Checked by
/// clap, so a bad one is a usage error (exit 2) like any other.
fn parse_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(Duration::ZERO) => Err("must be more than 0".to_string()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

/// `--buffer-mib`: the BPF ring buffer's size must be a power of two
/// pages; in MiB, a power of two up to 1024.
fn parse_buffer_mib(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n) if n.is_power_of_two() && n <= 1024 => Ok(n),
        _ => Err("must be a power of two up to 1024".to_string()),
    }
}

pub fn run(args: RecordArgs) -> Result<()> {
    let output = args.output.unwrap_or_else(default_output);
    let opts = args
        .what
        .options(args.duration, Some(output.clone()), args.force)?;
    let live = live_reports(&args.report, args.format, args.interval)?;
    let s = sockrec_recorder::record(&opts, live)?;
    let secs = s.elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "sockrec: wrote {} events ({} in flight) to {} in {:.1}s: {:.0} events/s, {:.1} bytes/event, lost {} (per CPU: {:?})",
        s.events,
        s.in_flight,
        escape(&output.display().to_string()),
        secs,
        s.events as f64 / secs,
        if s.events > 0 {
            s.bytes as f64 / s.events as f64
        } else {
            0.0
        },
        s.lost(),
        s.lost_per_cpu,
    );
    Ok(())
}

/// `sockrec watch REPORT...`: the live reports of a recording that keeps
/// no capture.
pub fn watch(args: WatchArgs) -> Result<()> {
    let opts = args.what.options(args.duration, None, false)?;
    let live = live_reports(&args.reports, args.format, args.interval)?;
    let s = sockrec_recorder::record(&opts, live)?;
    let secs = s.elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "sockrec: watched {} events ({} in flight) in {:.1}s: {:.0} events/s, no capture kept, lost {} (per CPU: {:?})",
        s.events,
        s.in_flight,
        secs,
        s.events as f64 / secs,
        s.lost(),
        s.lost_per_cpu,
    );
    Ok(())
}

/// `--report`: the live reports, planned before anything is loaded (a
/// name or SQL that can't run fails here), their heads printed.
fn live_reports(
    names: &[String],
    format: Option<FormatArg>,
    interval_ns: Option<i64>,
) -> Result<Option<Box<dyn LiveSink>>> {
    if names.is_empty() {
        return Ok(None);
    }
    let queries: Vec<(String, Query)> = names
        .iter()
        .map(|n| Ok((n.clone(), resolve(n)?)))
        .collect::<Result<_>>()?;
    let options = LiveOptions {
        format: format.map(Into::into),
        interval: interval_ns.map(|ns| Duration::from_nanos(ns as u64)),
        limits: Limits::default(),
    };
    let reports = LiveReports::new(queries, options, Box::new(std::io::stdout()))?;
    Ok(Some(Box::new(Live(reports))))
}

/// The analyzer's live reports as the recorder's live sink (the analyzer
/// does not know the recorder: `sockrec query` builds without it).
struct Live(LiveReports);

impl LiveSink for Live {
    fn columns(&self) -> Vec<String> {
        self.0.columns().to_vec()
    }

    fn events(&mut self, batch: arrow_array::RecordBatch) -> Result<()> {
        self.0.events(&batch)
    }

    fn tick(&mut self, behind: u64) -> Result<()> {
        self.0.tick(behind)
    }

    fn finish(&mut self, behind: u64) -> Result<()> {
        self.0.finish(behind)
    }
}

/// `sockrec-HOST-20261129T070351Z.parquet`: sorts by time, safe in any shell.
fn default_output() -> PathBuf {
    let host = sockrec_recorder::host::host_name();
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let stamp: String = now.chars().filter(|c| *c != '-' && *c != ':').collect();
    PathBuf::from(format!("sockrec-{host}-{stamp}.parquet"))
}

/// `sockrec probes`: the plan for this kernel, as the capture would record it.
pub fn probes() -> Result<()> {
    let (outcomes, code) = sockrec_recorder::loader::plan()?;
    println!("kernel {}", sockrec_recorder::host::kernel_release());
    for o in outcomes {
        print!("{}", o.render());
    }
    // As the capture's sockrec.probes ends (`programs=task:btf,calls:slots`).
    println!(
        "{:<width$} {}",
        "programs",
        code.summary(),
        width = sockrec_recorder::probes::NAME_WIDTH
    );
    Ok(())
}
