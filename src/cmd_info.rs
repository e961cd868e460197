//! `sockrec info CAPTURE...`: what a capture holds, from its footer.
//!
//! Every value from the file (host, kernel, probes, filters, kind names) is
//! [escaped](sockrec_capture::terminal::escape) for the terminal: a capture
//! comes from another machine, and its metadata is whatever that file says.

use anyhow::Result;
use sockrec_capture::CaptureInfo;
use sockrec_capture::terminal::escape;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

/// How `sockrec info` prints.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum InfoFormat {
    /// For people: a labelled summary per capture, escaped for the terminal.
    Text,
    /// For scripts: one JSON object per capture and line, values exact.
    Json,
}

pub fn run(captures: &[PathBuf], format: InfoFormat) -> Result<()> {
    for (i, path) in captures.iter().enumerate() {
        let info = CaptureInfo::open(path)?;
        match format {
            InfoFormat::Text => {
                if i > 0 {
                    println!();
                }
                print!("{}", render(&info));
            }
            InfoFormat::Json => println!("{}", json(&info)),
        }
    }
    Ok(())
}

/// The same facts as [`render`], as JSON: times as Unix epoch ns and RFC
/// 3339, probes and derived steps as arrays of lines, events per kind as
/// an object (`null` if the `kind` column can't be read).
fn json(info: &CaptureInfo) -> serde_json::Value {
    let meta = &info.meta;
    let lines = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    };
    let events = info.events_per_kind().ok().map(|kinds| {
        kinds
            .into_iter()
            .map(|(k, n)| (k, serde_json::Value::from(n)))
            .collect::<serde_json::Map<_, _>>()
    });
    serde_json::json!({
        "file": info.location.to_string(),
        "bytes": info.file_size,
        "host": meta.host,
        "kernel": meta.kernel,
        "format_version": meta.format_version,
        "sockrec_version": meta.sockrec_version,
        "start_ns": meta.start_ns,
        "end_ns": meta.end_ns,
        "start": wall_clock(meta.start_ns),
        "end": wall_clock(meta.end_ns),
        "duration_s": meta.duration().as_secs_f64(),
        "rows": info.rows,
        "row_groups": info.row_groups,
        "complete": meta.complete,
        "probes": lines(&meta.probes),
        "lost": meta.lost_total(),
        "lost_per_cpu": meta.lost,
        "filters": meta.filters,
        "derived": meta.derived,
        "events": events,
    })
}

/// The human summary `sockrec info` prints. If the `kind` column can't be
/// read, says so in place of the per-kind counts.
fn render(info: &CaptureInfo) -> String {
    let mut s = String::new();
    const INDENT: usize = 17;
    let mut line = |label: &str, value: &dyn std::fmt::Display| {
        // Multi-line values (the recorder lists one probe per line)
        // continue under the value column, not under the labels; each of
        // their lines is escaped on its own.
        let value = value.to_string();
        let lines: Vec<_> = value.trim_end().split('\n').map(escape).collect();
        let value = lines.join(&format!("\n{:INDENT$}", ""));
        let _ = writeln!(s, "{:<INDENT$}{value}", format!("{label}:"));
    };
    let meta = &info.meta;
    line(
        "file",
        &format_args!("{} ({} bytes)", info.location, info.file_size),
    );
    line("host", &meta.host);
    line("kernel", &meta.kernel);
    line("format version", &meta.format_version);
    line("sockrec version", &meta.sockrec_version);
    line("start", &wall_clock(meta.start_ns));
    line("end", &wall_clock(meta.end_ns));
    line("duration", &format_duration(meta.duration()));
    line(
        "rows",
        &format_args!("{} in {} row group(s)", info.rows, info.row_groups),
    );
    line(
        "complete",
        &if meta.complete {
            "yes"
        } else {
            "no (the recorder did not finish: events up to its last flush)"
        },
    );
    line("probes", &or_none(&meta.probes));
    line(
        "lost",
        &format_args!("{} (per CPU: {})", meta.lost_total(), meta.lost_per_cpu()),
    );
    line("filters", &or_none(&meta.filters));
    if !meta.derived.is_empty() {
        line("derived", &meta.derived.join("\n"));
    }
    match info.events_per_kind() {
        Ok(kinds) if kinds.is_empty() => line("events", &"none"),
        Ok(kinds) => {
            let kinds: Vec<_> = kinds.iter().map(|(k, n)| (escape(k), n)).collect();
            let _ = writeln!(s, "events:");
            let width = kinds.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            for (kind, n) in kinds {
                let _ = writeln!(s, "  {kind:<width$}  {n}");
            }
        }
        Err(e) => line("events", &format_args!("unreadable ({e:#})")),
    }
    s
}

/// Empty metadata text shown as `none` rather than as nothing.
fn or_none(text: &str) -> &str {
    if text.trim().is_empty() { "none" } else { text }
}

/// RFC 3339 UTC with nanoseconds, or `unknown` for a missing (0) time.
fn wall_clock(ns: i64) -> String {
    match u64::try_from(ns) {
        Ok(ns) if ns > 0 => {
            humantime::format_rfc3339_nanos(UNIX_EPOCH + Duration::from_nanos(ns)).to_string()
        }
        _ => "unknown".to_string(),
    }
}

/// Like `1h 2m 3s 450ms`: to the millisecond, finer is noise for a recording.
fn format_duration(d: Duration) -> String {
    let ms = Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    humantime::format_duration(ms).to_string()
}

#[cfg(test)]
mod tests {
    //! The summary's layout, over captures the capture crate's writer
    //! makes (its own tests check the values `CaptureInfo` reads).
    use super::*;
    use sockrec_capture::{CaptureMeta, CaptureWriter};
    use sockrec_common::{EventKind, SocketEvent};

    const BOOT: i64 = 1_700_000_000_000_000_000;

    fn meta(host: &str) -> CaptureMeta {
        CaptureMeta {
            host: host.into(),
            kernel: "6.1.0-test".into(),
            boot_time_ns: BOOT,
            start_ns: BOOT + 5_000_000_000,
            end_ns: BOOT + 9_000_000_000,
            probes: "tracepoint:syscalls:sys_exit_connect".into(),
            lost: vec![5, 6],
            filters: "pid=42".into(),
            sockrec_version: "0.1.0-test".into(),
            ..CaptureMeta::default()
        }
    }

    fn event(kind: EventKind, time_ns: u64) -> SocketEvent {
        let mut ev = SocketEvent::new(kind, time_ns);
        ev.comm[..4].copy_from_slice(b"test");
        ev
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sockrec-info-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("c.parquet")
    }

    #[test]
    fn finished_capture() {
        let path = scratch("finished");
        let mut w = CaptureWriter::create(&path, false, meta("testhost")).unwrap();
        for (kind, t) in [
            (EventKind::Socket, 1),
            (EventKind::Connect, 2),
            (EventKind::Connect, 3),
        ] {
            w.push(&event(kind, t), "p");
        }
        w.finish().unwrap();
        let text = render(&CaptureInfo::open(&path).unwrap());
        for needle in [
            "host:            testhost\n",
            "complete:        yes\n",
            "lost:            11 (per CPU: 5,6)\n",
            "start:           2023-11-14T22:13:25.000000000Z\n",
            "duration:        4s\n",
            "filters:         pid=42\n",
            "  connect  2\n",
        ] {
            assert!(text.contains(needle), "{needle:?} not in:\n{text}");
        }
    }

    /// Multi-line values stay in the value column; empty ones say `none`;
    /// an unfinished capture says so.
    #[test]
    fn layout_of_values() {
        let path = scratch("layout");
        let mut w = CaptureWriter::create(&path, false, meta("h")).unwrap();
        w.meta_mut().probes = "first\nsecond".into();
        w.meta_mut().filters = String::new();
        w.flush().unwrap();
        std::mem::forget(w);
        let text = render(&CaptureInfo::open(&path).unwrap());
        assert!(
            text.contains("probes:          first\n                 second\n"),
            "{text}"
        );
        assert!(text.contains("filters:         none\n"), "{text}");
        assert!(text.contains("complete:        no"), "{text}");
        assert!(text.contains("events:          none"), "{text}");
    }

    /// A crafted capture's metadata reaches the terminal as visible
    /// escapes, never as control sequences.
    #[test]
    fn metadata_is_escaped() {
        let path = scratch("hostile");
        let mut m = meta("\x1b[2J\x1b]0;owned\x07web-1");
        m.filters = "comm=\x1b[31mred".into();
        m.probes = "a\x1b[1Ab\nsecond".into();
        let w = CaptureWriter::create(&path, false, m).unwrap();
        w.finish().unwrap();
        let text = render(&CaptureInfo::open(&path).unwrap());
        assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
        assert!(
            text.contains("host:            \\x1b[2J\\x1b]0;owned\\x07web-1\n"),
            "{text}"
        );
        assert!(text.contains("filters:         comm=\\x1b[31mred\n"));
        assert!(text.contains("probes:          a\\x1b[1Ab\n                 second\n"));
    }
}
