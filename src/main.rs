//! `sockrec`: record socket events with eBPF into Parquet captures, and read
//! them back.
//!
//! `main` only parses arguments and reports errors: every failure becomes
//! one `sockrec: ...` line on stderr (escaped for the terminal: errors
//! quote paths and names) and exit code 1 (2 for usage errors, from clap).

use anyhow::Result;
use clap::{Parser, Subcommand};
use sockrec_capture::terminal::escape;
use std::process::ExitCode;

mod cmd_info;
mod cmd_query;
#[cfg(feature = "record")]
mod cmd_record;

#[derive(Parser)]
#[command(name = "sockrec", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Record socket events into a capture file (needs root or CAP_BPF+CAP_PERFMON).
    #[cfg(feature = "record")]
    Record(cmd_record::RecordArgs),
    /// Print reports live (as `record --report` does) without keeping a capture (needs root).
    #[cfg(feature = "record")]
    Watch(cmd_record::WatchArgs),
    /// Show the probe plan on this kernel: for each event kind, the probe
    /// that will catch it and why the ones before it did not (needs root).
    #[cfg(feature = "record")]
    Probes,
    /// Show a capture's metadata, time span, events per kind, lost events and probes.
    Info {
        /// Capture files, directories of captures or quoted globs (as `query -i` takes them).
        #[arg(required = true)]
        captures: Vec<String>,
    },
    /// Run a report (tcplife, soconnect... see --list) or SQL over captures.
    Query(cmd_query::QueryArgs),
}

fn main() -> ExitCode {
    // A panic is a bug in sockrec: say so on one line (where and what),
    // not with Rust's multi-line report; a query's worker thread that
    // panics also comes back as an error from DataFusion, below.
    std::panic::set_hook(Box::new(|info| {
        let what = sockrec_capture::panic::message(info.payload())
            .unwrap_or_else(|| "a panic without a message".to_string());
        let at = info
            .location()
            .map(|l| format!(" at {l}"))
            .unwrap_or_default();
        eprintln!(
            "sockrec: internal error{at}: {} (a bug: please report it)",
            escape(&what.replace('\n', " "))
        );
    }));
    let cli = Cli::parse();
    match main_inner(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sockrec: {}", escape(&one_line(&e)));
            ExitCode::FAILURE
        }
    }
}

fn main_inner(cli: Cli) -> Result<()> {
    match cli.command {
        #[cfg(feature = "record")]
        Command::Record(args) => cmd_record::run(args),
        #[cfg(feature = "record")]
        Command::Watch(args) => cmd_record::watch(args),
        #[cfg(feature = "record")]
        Command::Probes => cmd_record::probes(),
        Command::Info { captures } => cmd_info::run(&sockrec_capture::expand_inputs(&captures)?),
        Command::Query(args) => cmd_query::run(args),
    }
}

/// An error and its causes on one line: "what failed: why".
fn one_line(e: &anyhow::Error) -> String {
    let parts: Vec<String> = e
        .chain()
        .map(|c| c.to_string().replace('\n', " "))
        .collect();
    let mut out: Vec<String> = Vec::new();
    for p in parts {
        // Skip causes already spelled out by the message above them.
        if !out.iter().any(|o| o.contains(&p)) {
            out.push(p);
        }
    }
    out.join(": ")
}
