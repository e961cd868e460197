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

#[cfg(feature = "cluster")]
mod cmd_cluster;
mod cmd_info;
mod cmd_plot;
mod cmd_query;
#[cfg(feature = "record")]
mod cmd_record;
mod cmd_redact;
mod cmd_slice;
#[cfg(feature = "s3")]
mod cmd_upload;

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
        /// `json`: one object per capture and line, for scripts.
        #[arg(long, value_enum, default_value = "text")]
        format: cmd_info::InfoFormat,
    },
    /// Run a report (tcplife, soconnect... see --list) or SQL over captures.
    Query(cmd_query::QueryArgs),
    /// Put captures into object storage (s3://BUCKET/PREFIX/), each at
    /// PREFIX/HOST/START.parquet, for `query -i s3://BUCKET/PREFIX/`.
    #[cfg(feature = "s3")]
    Upload(cmd_upload::UploadArgs),
    /// Run a query cluster (Apache DataFusion Ballista) for `query
    /// --cluster`: a scheduler, and executors on the machines that hold or
    /// reach the captures.
    #[cfg(feature = "cluster")]
    #[command(subcommand)]
    Cluster(cmd_cluster::ClusterCommand),
    /// Cut a smaller capture from captures: a time span, processes, hosts,
    /// event kinds, or any SQL condition (metadata and format kept).
    Slice(cmd_slice::SliceArgs),
    /// Replace a capture's addresses, UNIX paths, task and host names,
    /// consistently under a key, for sharing (ports and numbers kept).
    Redact(cmd_redact::RedactArgs),
    /// Draw a report as a chart (SVG or PNG): sockstat and tcptop per
    /// second, socksize, soconnlat and so1stbyte as histograms.
    Plot(cmd_plot::PlotArgs),
    /// Print shell completions or the man page (e.g. `sockrec generate
    /// bash > /etc/bash_completion.d/sockrec`, `sockrec generate man >
    /// sockrec.1`).
    Generate {
        #[arg(value_enum)]
        what: Generated,
        /// man: write sockrec.1 and a page per subcommand (sockrec-record.1...) here.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
}

/// What `sockrec generate` prints.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Generated {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
    /// The man page, sockrec(1), in roff (`man ./sockrec.1`); with
    /// `--dir`, a page per subcommand too.
    Man,
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
        Command::Info { captures, format } => {
            cmd_info::run(&sockrec_capture::expand_inputs(&captures)?, format)
        }
        Command::Query(args) => cmd_query::run(args),
        #[cfg(feature = "s3")]
        Command::Upload(args) => cmd_upload::run(args),
        #[cfg(feature = "cluster")]
        Command::Cluster(command) => cmd_cluster::run(command),
        Command::Slice(args) => cmd_slice::run(args),
        Command::Redact(args) => cmd_redact::run(args),
        Command::Plot(args) => cmd_plot::run(args),
        Command::Generate { what, dir } => generate(what, dir),
    }
}

/// Shell completions or the man page, from the CLI's definition, on
/// stdout.
fn generate(what: Generated, dir: Option<std::path::PathBuf>) -> Result<()> {
    use clap::CommandFactory as _;
    use clap_complete::Shell;
    let mut cli = Cli::command();
    let mut out = std::io::stdout().lock();
    let shell = match what {
        Generated::Bash => Shell::Bash,
        Generated::Zsh => Shell::Zsh,
        Generated::Fish => Shell::Fish,
        Generated::Elvish => Shell::Elvish,
        Generated::Powershell => Shell::PowerShell,
        Generated::Man => {
            match dir {
                // sockrec.1, and sockrec-record.1... with each one's options.
                Some(dir) => clap_mangen::generate_to(cli, &dir)?,
                None => clap_mangen::Man::new(cli).render(&mut out)?,
            }
            return Ok(());
        }
    };
    clap_complete::generate(shell, &mut cli, "sockrec", &mut out);
    Ok(())
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
