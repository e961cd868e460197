//! The built-in reports: the SQL in `queries/` (embedded in the binary) and,
//! for each, a renderer that prints its result the way the BPF Performance
//! Tools program it reproduces does (`--format tool`, the default for them).
//!
//! bpftrace prints a map as `@name[key, key]: value` lines sorted by value,
//! and each map followed by an empty line; sockstat(8) prints one such map
//! per second under a time line; soconnect(8) prints a `printf` table. The
//! SQL does the counting and sorting; the renderers only lay the rows out,
//! so `--format csv` shows exactly the numbers the tool format shows.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::{Context as _, Result, anyhow};
use arrow_array::{Array, RecordBatch};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::render::{self, Col, Hists, Maps, Table};
use crate::session::QueryResult;
use sockrec_capture::terminal::escape;

/// One built-in report.
pub struct Report {
    /// What `sockrec query NAME` calls it (= the tool's name).
    pub name: &'static str,
    /// The query, from `queries/NAME.sql`.
    pub sql: &'static str,
    /// The capture columns it reads that not every capture has (format v2's
    /// `sock`, `inode`...): a capture without one can't answer it, and
    /// `sockrec query` says so before running the SQL (whose missing
    /// columns would read as NULL, and the report come out empty).
    pub needs: &'static [&'static str],
    render: Render,
}

/// How a report's rows are laid out in `--format tool`.
enum Render {
    /// A renderer of its own.
    Fn(fn(&QueryResult, &mut dyn Write) -> Result<()>),
    /// A printf table ([`render::Table`]).
    Table(&'static render::Table),
    /// bpftrace `hist()` maps ([`render::Hists`]).
    Hists(&'static render::Hists),
    /// bpftrace count maps ([`render::Maps`]).
    Maps(&'static render::Maps),
}

impl Report {
    /// The report's one-line description: its SQL's first comment line,
    /// without the leading `-- NAME: `.
    pub fn summary(&self) -> &'static str {
        let first = self.sql.lines().next().unwrap_or_default();
        let text = first.trim_start_matches("--").trim();
        text.strip_prefix(self.name)
            .and_then(|t| t.strip_prefix(':'))
            .unwrap_or(text)
            .trim()
    }

    /// Prints `result` (of this report's SQL) the way the tool does.
    pub fn render(&self, result: &QueryResult, out: &mut dyn Write) -> Result<()> {
        match &self.render {
            Render::Fn(f) => f(result, out),
            Render::Table(t) => t.write(result, out),
            Render::Hists(h) => h.write(result, out),
            Render::Maps(m) => m.write(result, out),
        }
        .with_context(|| format!("rendering {}", self.name))
    }
}

/// `NAME needs [COLUMNS] => RENDER;`: a [`Report`] of `queries/NAME.sql`.
macro_rules! reports {
    ($($name:literal needs [$($col:literal),*] => $render:expr;)*) => {
        /// All built-in reports, in `--list` order.
        pub const REPORTS: &[Report] = &[$(Report {
            name: $name,
            sql: include_str!(concat!("../../queries/", $name, ".sql")),
            needs: &[$($col),*],
            render: $render,
        },)*];
    };
}

// In --list order: round 1's four, then the TCP session reports (tcplife
// first: the question a postmortem asks first), the calls, and the
// histograms.
reports! {
    "sockstat" needs [] => Render::Fn(render_sockstat);
    "sofamily" needs [] => Render::Fn(render_sofamily);
    "soprotocol" needs [] => Render::Fn(render_soprotocol);
    "soconnect" needs [] => Render::Fn(render_soconnect);
    "tcplife" needs ["sock", "state", "tx_bytes"] => Render::Table(&Table {
        banner: &[],
        cols: &[
            Col::l("PID", "pid", 5),
            Col::l("COMM", "comm", 10).max(10),
            Col::l("LADDR", "laddr", 15),
            Col::l("LPORT", "lport", 5),
            Col::l("RADDR", "raddr", 15),
            Col::l("RPORT", "rport", 5),
            Col::r("TX_KB", "tx_kb", 5),
            Col::r("RX_KB", "rx_kb", 5),
            Col::l("MS", "ms", 0),
        ],
    });
    "tcpstates" needs ["sock", "old_state", "state"] => Render::Table(&Table {
        banner: &[],
        cols: &[
            Col::l("SKADDR", "skaddr", 16),
            Col::l("C-PID", "c_pid", 5),
            Col::l("C-COMM", "c_comm", 10).max(10),
            Col::l("LADDR", "laddr", 15),
            Col::l("LPORT", "lport", 5),
            Col::l("RADDR", "raddr", 15),
            Col::l("RPORT", "rport", 5),
            Col::l("OLDSTATE", "oldstate", 11),
            Col::l("->", "=->", 2),
            Col::l("NEWSTATE", "newstate", 11),
            Col::l("MS", "ms", 0).decimals(3),
        ],
    });
    "tcpretrans" needs ["sock", "state"] => Render::Table(&Table {
        banner: &["Tracing tcp retransmits."],
        cols: &[
            Col::l("TIME", "time", 8),
            Col::l("PID", "pid", 8),
            Col::r("LADDR:LPORT", "laddr:lport", 20),
            Col::r("RADDR:RPORT", "raddr:rport", 21),
            Col::r("STATE", "state", 6),
        ],
    });
    "tcpconnect" needs ["sock", "old_state", "state"] => Render::Table(&Table {
        banner: &[],
        cols: &[
            Col::l("TIME", "time", 8),
            Col::l("PID", "pid", 6),
            Col::l("COMM", "comm", 16),
            Col::l("IP", "ip", 3),
            Col::l("SADDR", "saddr", 15),
            Col::l("DADDR", "daddr", 15),
            Col::l("DPORT", "dport", 5),
        ],
    });
    "tcpaccept" needs ["laddr", "lport", "raddr", "backlog"] => Render::Table(&Table {
        banner: &["Tracing TCP accepts."],
        cols: &[
            Col::l("TIME", "time", 8),
            Col::l("PID", "pid", 6),
            Col::l("COMM", "comm", 14),
            Col::l("RADDR", "raddr", 39),
            Col::l("RPORT", "rport", 5),
            Col::l("LADDR", "laddr", 39),
            Col::l("LPORT", "lport", 5),
            Col::l("BL", "bl", 0),
        ],
    });
    "tcpconnlat" needs ["sock", "old_state", "state"] => Render::Table(&Table {
        banner: &[],
        cols: &[
            Col::l("PID", "pid", 7),
            Col::l("COMM", "comm", 12).max(12),
            Col::l("IP", "ip", 2),
            Col::l("SADDR", "saddr", 16),
            Col::l("DADDR", "daddr", 16),
            Col::l("DPORT", "dport", 5),
            Col::l("LAT(ms)", "lat_ms", 0).decimals(2),
        ],
    });
    "solisten" needs ["backlog", "laddr", "lport"] => Render::Table(&Table {
        banner: &[],
        cols: &[
            Col::l("PID", "pid", 7),
            Col::l("COMM", "comm", 12).max(12),
            Col::l("PROTO", "proto", 6),
            Col::l("BACKLOG", "backlog", 8),
            Col::l("PORT", "port", 5),
            Col::l("ADDR", "addr", 39),
        ],
    });
    "soaccept" needs [] => Render::Table(&Table {
        banner: &[],
        cols: &[
            Col::l("PID", "pid", 6),
            Col::l("PROCESS", "process", 16),
            Col::l("FAM", "fam", 3),
            Col::l("ADDRESS", "address", 16),
            Col::l("PORT", "port", 5),
            Col::l("RESULT", "result", 0),
        ],
    });
    "socketio" needs ["inode", "rport"] => Render::Maps(&Maps {
        banner: &[],
        keys: &["comm", "pid", "dir", "protocol", "port"],
    });
    "udpconnect" needs [] => Render::Table(&Table {
        banner: &[],
        cols: &[
            Col::l("TIME", "time", 8),
            Col::l("PID", "pid", 6),
            Col::l("COMM", "comm", 16),
            Col::l("IP", "ip", 2),
            Col::l("RADDR", "raddr", 16),
            Col::l("RPORT", "rport", 5),
        ],
    });
    "tcptop" needs ["inode", "laddr", "raddr"] => Render::Fn(render_tcptop);
    "socksize" needs [] => Render::Hists(&Hists {
        banner: &[],
        keys: &["comm"],
    });
    "soconnlat" needs ["sock", "old_state"] => Render::Hists(&Hists {
        banner: &["Tracing IP connect() latency."],
        keys: &["comm"],
    });
    "so1stbyte" needs ["inode"] => Render::Hists(&Hists {
        banner: &["Tracing IP socket first-read-byte latency."],
        keys: &["comm", "pid"],
    });
}

/// tcptop(8): per interval, a time line, then the IPv4 connections under
/// `PID COMM LADDR RADDR RX_KB TX_KB` and the IPv6 ones under `... LADDR6
/// RADDR6 ...` after an empty line, as BCC's tcptop prints (with -C, no
/// screen clearing); an empty line between intervals.
fn render_tcptop(result: &QueryResult, out: &mut dyn Write) -> Result<()> {
    const V4: &[Col] = &[
        Col::l("PID", "pid", 7),
        Col::l("COMM", "comm", 12).max(12),
        Col::l("LADDR", "laddr:lport", 21),
        Col::l("RADDR", "raddr:rport", 21),
        Col::r("RX_KB", "rx_kb", 6),
        Col::r("TX_KB", "tx_kb", 6),
    ];
    const V6: &[Col] = &[
        Col::l("PID", "pid", 7),
        Col::l("COMM", "comm", 12).max(12),
        Col::l("LADDR6", "laddr:lport", 32),
        Col::l("RADDR6", "raddr:rport", 32),
        Col::r("RX_KB", "rx_kb", 6),
        Col::r("TX_KB", "tx_kb", 6),
    ];
    let keys = rows(result, &["time", "ip"])?;
    let mut start = 0;
    while start < keys.len() {
        let time = &keys[start][0];
        let end = start + keys[start..].iter().take_while(|k| k[0] == *time).count();
        if start > 0 {
            writeln!(out)?;
        }
        writeln!(out, "{time}")?;
        writeln!(out)?;
        let v6 = start + keys[start..end].iter().take_while(|k| k[1] == "4").count();
        if v6 > start {
            render::write_table(result, V4, start..v6, out)?;
        }
        if end > v6 {
            writeln!(out)?;
            render::write_table(result, V6, v6..end, out)?;
        }
        start = end;
    }
    Ok(())
}

/// The report called `name` (`sofamily` or `sofamily.sql`).
pub fn find(name: &str) -> Option<&'static Report> {
    let name = name.strip_suffix(".sql").unwrap_or(name);
    REPORTS.iter().find(|r| r.name == name)
}

/// The cells of the named columns, row by row, as text (NULL as empty),
/// [escaped](sockrec_capture::terminal::escape) for the terminal. Timestamps show as
/// `HH:MM:SS`, bpftrace's `time()`.
pub(crate) fn rows(result: &QueryResult, columns: &[&str]) -> Result<Vec<Vec<String>>> {
    let options = FormatOptions::default()
        .with_timestamp_format(Some("%H:%M:%S"))
        .with_timestamp_tz_format(Some("%H:%M:%S"));
    let mut out = Vec::with_capacity(result.num_rows());
    for batch in &result.batches {
        let formatters = columns
            .iter()
            .map(|name| {
                let col = column(batch, name)?;
                Ok(ArrayFormatter::try_new(col.as_ref(), &options)?)
            })
            .collect::<Result<Vec<_>>>()?;
        for i in 0..batch.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| escape(&f.value(i).to_string()).into_owned())
                    .collect(),
            );
        }
    }
    Ok(out)
}

pub(crate) fn column<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a std::sync::Arc<dyn Array>> {
    batch
        .column_by_name(name)
        .ok_or_else(|| anyhow!("the query has no column {name:?}"))
}

/// bpftrace map lines, `@map[k1, k2]: count`, from rows of `map`, the keys
/// and `count`, already sorted; an empty line after each map.
pub(crate) fn write_maps(rows: &[Vec<String>], out: &mut dyn Write) -> Result<()> {
    for (i, row) in rows.iter().enumerate() {
        let (map, rest) = row.split_first().expect("map column");
        let (count, keys) = rest.split_last().expect("count column");
        writeln!(out, "@{map}[{}]: {count}", keys.join(", "))?;
        let next_map = rows.get(i + 1).map(|r| &r[0]);
        if next_map != Some(map) {
            writeln!(out)?;
        }
    }
    Ok(())
}

/// sockstat(8): a time line, then that second's `@[probe]: count` lines.
fn render_sockstat(result: &QueryResult, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "Sock statistics per second (UTC), counted at call entry."
    )?;
    let rows = rows(result, &["second", "probe", "count"])?;
    let mut current: Option<&str> = None;
    for row in &rows {
        if current != Some(&row[0]) {
            if current.is_some() {
                writeln!(out)?;
            }
            writeln!(out, "{}", row[0])?;
            current = Some(&row[0]);
        }
        writeln!(out, "@[{}]: {}", row[1], row[2])?;
    }
    if current.is_some() {
        writeln!(out)?;
    }
    Ok(())
}

/// sofamily(8): `@accept[comm, family, AF_NAME]: count`, then `@connect`.
fn render_sofamily(result: &QueryResult, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "Socket connect/accepts by process and address family.")?;
    writeln!(out)?;
    let rows = rows(result, &["map", "comm", "family", "family_name", "count"])?;
    write_maps(&rows, out)
}

/// soprotocol(8): `@accept[comm, protocol, IPPROTO_NAME, SHORT]: count`,
/// then `@connect`.
fn render_soprotocol(result: &QueryResult, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "Socket connect/accepts by process and protocol.")?;
    writeln!(out)?;
    let rows = rows(
        result,
        &[
            "map",
            "comm",
            "protocol",
            "protocol_name",
            "protocol_short",
            "count",
        ],
    )?;
    write_maps(&rows, out)
}

/// soconnect(8)'s table. The original's `printf("%-6d %-16s %-3d %-16s
/// %-5d %-8d %s\n")` lets an IPv6 address overflow its 16-character column
/// and push the rest of the line right; the ADDRESS column here is as wide
/// as the longest address, so every address shows whole and aligned.
///
/// One line per connect, so the rows are formatted as they are written
/// rather than collected as strings first (as [`rows`] does for the short
/// map reports): that was 3.3 M strings for the 417 K connects of the
/// benchmark's 10M-event capture, and 0.37 s of the report's 0.58 (now
/// 0.21 s, `perf stat`).
fn render_soconnect(result: &QueryResult, out: &mut dyn Write) -> Result<()> {
    const COLUMNS: [&str; 8] = [
        "host",
        "pid",
        "comm",
        "family",
        "address",
        "port",
        "latency_us",
        "result",
    ];
    const HOST: usize = 0;
    const ADDRESS: usize = 4;
    const LATENCY: usize = 6;
    let options = FormatOptions::default();
    let batches = result
        .batches
        .iter()
        .map(|batch| {
            let formatters = COLUMNS
                .iter()
                .map(|name| {
                    Ok(ArrayFormatter::try_new(
                        column(batch, name)?.as_ref(),
                        &options,
                    )?)
                })
                .collect::<Result<Vec<_>>>()?;
            Ok((column(batch, COLUMNS[LATENCY])?, formatters))
        })
        .collect::<Result<Vec<_>>>()?;

    // First pass: the HOST and ADDRESS widths, and whether there are
    // several hosts (PIDs mean something per host: then name the host).
    let mut cell = String::new();
    let (mut host_width, mut address_width) = (4, 16);
    let mut first_host: Option<String> = None;
    let mut several_hosts = false;
    for (latency, f) in &batches {
        for i in 0..latency.len() {
            cell.clear();
            write!(cell, "{}", f[ADDRESS].value(i))?;
            escape_tail(&mut cell, 0);
            address_width = address_width.max(cell.chars().count());
            cell.clear();
            write!(cell, "{}", f[HOST].value(i))?;
            escape_tail(&mut cell, 0);
            host_width = host_width.max(cell.chars().count());
            match &first_host {
                None => first_host = Some(cell.clone()),
                Some(h) => several_hosts |= *h != cell,
            }
        }
    }
    let first = if several_hosts { HOST } else { HOST + 1 };
    // The original's widths (`%-6d %-16s %-3d %-16s %-5d %-8d %s`), HOST
    // and ADDRESS widened to their longest value.
    let widths = [host_width, 6, 16, 3, address_width, 5, 8, 0];

    // Second pass: each line's cells padded into one buffer.
    let mut line = String::new();
    let mut write_line = |out: &mut dyn Write,
                          cell: &dyn Fn(usize, &mut String) -> std::fmt::Result|
     -> Result<()> {
        line.clear();
        for (c, width) in widths.iter().enumerate().skip(first) {
            if c > first {
                line.push(' ');
            }
            let start = line.len();
            cell(c, &mut line)?;
            escape_tail(&mut line, start);
            let used = line[start..].chars().count();
            line.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
        }
        writeln!(out, "{}", line.trim_end())?;
        Ok(())
    };
    let header = [
        "HOST", "PID", "PROCESS", "FAM", "ADDRESS", "PORT", "LAT(us)", "RESULT",
    ];
    write_line(out, &|c, line| line.write_str(header[c]))?;
    for (latency, f) in &batches {
        for i in 0..latency.len() {
            write_line(out, &|c, line| {
                if c == LATENCY && latency.is_null(i) {
                    // In flight: no latency (RESULT says why).
                    line.write_str("-")
                } else {
                    write!(line, "{}", f[c].value(i))
                }
            })?;
        }
    }
    Ok(())
}

/// [Escapes](escape) for the terminal what was written to `line` from
/// `start` on, in place: a cell formatted straight into the line.
fn escape_tail(line: &mut String, start: usize) {
    if let std::borrow::Cow::Owned(escaped) = escape(&line[start..]) {
        line.truncate(start);
        line.push_str(&escaped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array, StringArray, UInt16Array, UInt32Array};
    use std::sync::Arc;

    fn soconnect_result(hosts: [&str; 3]) -> QueryResult {
        let text = |v: Vec<&str>| Arc::new(StringArray::from(v)) as ArrayRef;
        let batch = RecordBatch::try_from_iter([
            ("host", text(hosts.to_vec())),
            (
                "pid",
                Arc::new(UInt32Array::from(vec![1, 22, 333])) as ArrayRef,
            ),
            ("comm", text(vec!["curl", "ssh", "java"])),
            (
                "family",
                Arc::new(UInt16Array::from(vec![2, 10, 10])) as ArrayRef,
            ),
            (
                "address",
                text(vec![
                    "10.0.0.1",
                    "2001:db8:1234:5678:9abc:def0:1234:5678",
                    "::1",
                ]),
            ),
            (
                "port",
                Arc::new(UInt16Array::from(vec![80, 22, 9])) as ArrayRef,
            ),
            (
                "latency_us",
                Arc::new(Int64Array::from(vec![Some(5), Some(45134), None])) as ArrayRef,
            ),
            (
                "result",
                text(vec!["Success", "Network is unreachable", "(in flight)"]),
            ),
        ])
        .unwrap();
        QueryResult {
            schema: batch.schema(),
            batches: vec![batch],
        }
    }

    fn render(result: &QueryResult) -> String {
        let mut out = Vec::new();
        find("soconnect").unwrap().render(result, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// IPv6 addresses show whole and the columns after them stay aligned;
    /// in-flight calls have no latency.
    #[test]
    fn soconnect_aligns_long_addresses() {
        let out = render(&soconnect_result(["h", "h", "h"]));
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("PID    PROCESS          FAM ADDRESS "));
        assert!(lines[2].contains(
            " 2001:db8:1234:5678:9abc:def0:1234:5678 22    45134    Network is unreachable"
        ));
        let at = lines[0].find("PORT").unwrap();
        for l in &lines[1..] {
            assert_eq!(&l[at - 1..at], " ", "{out}");
            assert!(l[at..].starts_with(|c: char| c.is_ascii_digit()), "{out}");
        }
        assert!(lines[3].ends_with("9     -        (in flight)"), "{out}");
    }

    #[test]
    fn soconnect_names_hosts_when_several() {
        let out = render(&soconnect_result(["web-1", "web-2", "web-1"]));
        assert!(out.starts_with("HOST  PID    PROCESS"), "{out}");
        assert!(
            out.lines().nth(1).unwrap().starts_with("web-1 1      curl"),
            "{out}"
        );
    }

    #[test]
    fn summaries_and_names() {
        for r in REPORTS {
            assert!(r.sql.starts_with(&format!("-- {}: ", r.name)), "{}", r.name);
            assert!(!r.summary().is_empty());
        }
        assert_eq!(find("sofamily.sql").map(|r| r.name), Some("sofamily"));
        assert!(find("sofamily.bt").is_none());
    }
}
