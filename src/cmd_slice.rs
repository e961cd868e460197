//! `sockrec slice`: the command line of a cut of captures (the cut itself
//! is the analyzer's [`sockrec_analyzer::slice`]).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use sockrec_analyzer::slice::{Cut, Moment, slice};
use sockrec_capture::expand_inputs;
use sockrec_capture::schema::parse_event_kinds;

#[derive(Args)]
pub struct SliceArgs {
    /// Capture files, directories of captures or quoted globs (as `query -i` takes them).
    #[arg(short, long = "input", value_name = "CAPTURE", required = true)]
    input: Vec<String>,
    /// The new capture.
    #[arg(short, long, value_name = "OUT.parquet")]
    output: PathBuf,
    /// Overwrite the output if it exists.
    #[arg(long)]
    force: bool,
    /// Only events at or after this time: RFC 3339 (2026-12-07T12:56:38Z,
    /// or with an offset) or after the recording's start (+30s, +2m).
    #[arg(long, value_name = "TIME", value_parser = parse_moment)]
    since: Option<Moment>,
    /// Only events before this time (as --since).
    #[arg(long, value_name = "TIME", value_parser = parse_moment)]
    until: Option<Moment>,
    /// Only these processes, comma-separated.
    #[arg(short, long, value_name = "PID,...", value_delimiter = ',')]
    pid: Vec<u32>,
    /// Only tasks with these names (as in /proc/PID/comm), comma-separated.
    #[arg(long, value_name = "COMM,...", value_delimiter = ',')]
    comm: Vec<String>,
    /// Only the captures and events of these hosts, comma-separated.
    #[arg(long, value_name = "HOST,...", value_delimiter = ',')]
    host: Vec<String>,
    /// Only these event kinds, comma-separated (as record --events).
    #[arg(long, value_name = "KIND,...")]
    events: Option<String>,
    /// Only the events for which this SQL condition over the capture's
    /// columns holds (e.g. "rport = 6379 OR lport = 6379").
    #[arg(long = "where", value_name = "SQL")]
    condition: Option<String>,
}

pub fn run(args: SliceArgs) -> Result<()> {
    let inputs = expand_inputs(&args.input)?;
    let cut = Cut {
        since: args.since,
        until: args.until,
        pids: args.pid,
        comms: args.comm,
        hosts: args.host,
        kinds: args
            .events
            .as_deref()
            .map(parse_event_kinds)
            .transpose()?
            .unwrap_or_default(),
        condition: args.condition,
    };
    let sliced = slice(&inputs, &args.output, args.force, &cut)?;
    eprintln!(
        "sockrec: wrote {} of {} events to {} ({} bytes)",
        sliced.rows,
        sliced.of_rows,
        args.output.display(),
        sliced.bytes
    );
    Ok(())
}

/// `+DURATION` (after the recording's start) or an RFC 3339 time.
fn parse_moment(text: &str) -> Result<Moment, String> {
    if let Some(after) = text.strip_prefix('+') {
        return humantime::parse_duration(after)
            .map(Moment::AfterStart)
            .map_err(|e| format!("{e} (e.g. +30s, +2m)"));
    }
    let at = chrono::DateTime::parse_from_rfc3339(text).map_err(|e| {
        format!("{e}: an RFC 3339 time (2026-12-07T12:56:38Z) or +DURATION after the start (+30s)")
    })?;
    let ns = at
        .timestamp_nanos_opt()
        .ok_or_else(|| "out of range".to_string())?;
    Ok(Moment::At(ns))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_moment_is_rfc3339_or_after_the_start() {
        assert_eq!(
            parse_moment("+30s"),
            Ok(Moment::AfterStart(Duration::from_secs(30)))
        );
        assert_eq!(
            parse_moment("1970-01-01T00:00:01.5Z"),
            Ok(Moment::At(1_500_000_000))
        );
        assert_eq!(
            parse_moment("1970-01-01T01:00:01+01:00"),
            Ok(Moment::At(1_000_000_000))
        );
        assert!(parse_moment("yesterday").is_err());
        assert!(parse_moment("+soon").is_err());
    }
}
