//! Names that traced processes choose never reach the terminal raw.
//!
//! A process may call itself `"\x1b[2J\x1b]0;x\x07ev"` (clear the screen,
//! retitle the window) and bind UNIX sockets at paths with escapes in them;
//! a crafted capture may say anything in its metadata. Every human-facing
//! output (the tool and table formats, `sockrec info`, errors) shows them
//! as visible escapes; csv and json carry the exact bytes, which a csv and
//! a JSON parser read back. The capture here is written by sockrec's own
//! writer (no root needed); `record::hostile_names_are_escaped` records a
//! real process of that name.

use std::path::Path;
use std::process::Output;

use sockrec_capture::{CaptureMeta, CaptureWriter};
use sockrec_common::{ADDR_CAP, EventKind, SocketEvent};

use crate::{
    ensure,
    util::{self, TempDir, TestResult, Tests},
};

pub const TESTS: Tests = crate::tests![crafted_capture_in_every_format, info_and_errors];

/// The process name of the report: clear screen, set title, BEL.
pub const HOSTILE_COMM: &str = "\x1b[2J\x1b]0;x\x07ev";
/// How the human formats show it.
pub const HOSTILE_COMM_SHOWN: &str = "\\x1b[2J\\x1b]0;x\\x07ev";
/// A UNIX socket path with a colour escape and a newline in it.
const HOSTILE_PATH: &str = "/tmp/\x1b[31mred\nsock";
const HOSTILE_PATH_SHOWN: &str = "/tmp/\\x1b[31mred\\nsock";
const HOSTILE_HOST: &str = "web\x1b]0;pwned\x07-1";
const HOSTILE_HOST_SHOWN: &str = "web\\x1b]0;pwned\\x07-1";

/// Whether `text` holds a byte a terminal would act on: C0 controls other
/// than newline, DEL, and C1 controls (as UTF-8, `\u{80}`..`\u{9f}`).
pub fn has_raw_controls(text: &str) -> bool {
    text.chars()
        .any(|c| c != '\n' && (c.is_control() || ('\u{80}'..='\u{9f}').contains(&c)))
}

const BOOT: i64 = 1_700_000_000_000_000_000;

fn event(kind: EventKind, time_ns: u64) -> SocketEvent {
    let mut ev = SocketEvent {
        pid: 4242,
        tid: 4242,
        fd: 3,
        ..SocketEvent::new(kind, time_ns)
    };
    ev.comm[..HOSTILE_COMM.len()].copy_from_slice(HOSTILE_COMM.as_bytes());
    ev
}

/// A capture of one hostile process: a refused TCP connect, a UNIX bind
/// and connect at a hostile path, an accept, a socket call.
fn hostile_capture(path: &Path) {
    let meta = CaptureMeta {
        host: HOSTILE_HOST.into(),
        kernel: "6.18.0-test".into(),
        boot_time_ns: BOOT,
        start_ns: BOOT,
        end_ns: BOOT + 2_000_000_000,
        probes: "tracepoint:syscalls:sys_enter_connect".into(),
        lost: vec![0, 0],
        filters: String::new(),
        sockrec_version: "test".into(),
        ..CaptureMeta::default()
    };
    let mut w = CaptureWriter::create(path, false, meta).unwrap();
    let mut socket = event(EventKind::Socket, 1_000);
    socket.family = libc::AF_INET as u16;
    socket.sock_type = libc::SOCK_STREAM as u16;
    socket.protocol = libc::IPPROTO_TCP as u16;
    w.push(&socket, "tracepoint:syscalls:sys_exit_socket");

    let mut refused = event(EventKind::Connect, 2_000);
    refused.family = libc::AF_INET as u16;
    refused.sock_type = libc::SOCK_STREAM as u16;
    refused.protocol = libc::IPPROTO_TCP as u16;
    refused.ret = -libc::ECONNREFUSED as i64;
    refused.latency_ns = 5_000;
    refused.addr[..2].copy_from_slice(&(libc::AF_INET as u16).to_le_bytes());
    refused.addr[2..4].copy_from_slice(&1u16.to_be_bytes());
    refused.addr[4..8].copy_from_slice(&[127, 0, 0, 1]);
    refused.addr_len = 16;
    w.push(&refused, "tracepoint:syscalls:sys_enter_connect");

    let mut unix = |kind, t, probe| {
        let mut ev = event(kind, t);
        ev.family = libc::AF_UNIX as u16;
        ev.sock_type = libc::SOCK_STREAM as u16;
        ev.addr[..2].copy_from_slice(&(libc::AF_UNIX as u16).to_le_bytes());
        ev.addr[2..2 + HOSTILE_PATH.len()].copy_from_slice(HOSTILE_PATH.as_bytes());
        assert!(2 + HOSTILE_PATH.len() < ADDR_CAP);
        ev.addr_len = (2 + HOSTILE_PATH.len() + 1) as u16;
        w.push(&ev, probe);
    };
    unix(EventKind::Bind, 3_000, "tracepoint:syscalls:sys_enter_bind");
    unix(
        EventKind::Connect,
        4_000,
        "tracepoint:syscalls:sys_enter_connect",
    );
    unix(
        EventKind::Accept,
        5_000,
        "tracepoint:syscalls:sys_enter_accept",
    );
    w.finish().unwrap();
}

fn sockrec_ok(args: &[&str]) -> Result<String, String> {
    let out = util::run(util::sockrec().args(args));
    ensure!(
        out.status.success(),
        "sockrec {args:?} failed: {}",
        util::stderr(&out)
    );
    String::from_utf8(out.stdout).map_err(|e| format!("sockrec {args:?}: not UTF-8: {e}"))
}

/// The four reports (and SQL) in each format: tool and table escaped,
/// csv and json exact.
fn crafted_capture_in_every_format() -> TestResult {
    let dir = TempDir::new("terminal");
    let cap = dir.path().join("hostile.parquet");
    hostile_capture(&cap);
    let cap = cap.to_str().unwrap();
    let sql = "SELECT host, comm, kind, addr FROM events";
    for query in ["sockstat", "sofamily", "soprotocol", "soconnect", "-e"] {
        let mut args = vec!["query", query];
        if query == "-e" {
            args.push(sql);
        }
        args.extend(["-i", cap]);
        for format in ["tool", "table"] {
            if query == "-e" && format == "tool" {
                continue;
            }
            let mut a = args.clone();
            a.extend(["--format", format]);
            let text = sockrec_ok(&a)?;
            ensure!(
                !has_raw_controls(&text),
                "{a:?} wrote raw controls: {text:?}"
            );
            let shows_comm = query != "sockstat";
            ensure!(
                !shows_comm || text.contains(HOSTILE_COMM_SHOWN),
                "{a:?} should show {HOSTILE_COMM_SHOWN}: {text}"
            );
        }
        if query == "-e" {
            // The table shows the UNIX paths too.
            let mut a = args.clone();
            a.extend(["--format", "table"]);
            let text = sockrec_ok(&a)?;
            ensure!(
                text.contains(HOSTILE_PATH_SHOWN),
                "{a:?} should show {HOSTILE_PATH_SHOWN}: {text}"
            );
        }
    }

    // csv and json: exact values, read back by real parsers.
    let mut a = vec!["query", "-e", sql, "-i", cap, "--format", "csv"];
    let csv_text = sockrec_ok(&a)?;
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    ensure!(
        headers.iter().collect::<Vec<_>>() == ["host", "comm", "kind", "addr"],
        "{headers:?}"
    );
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("csv does not parse back: {e}: {csv_text:?}"))?;
    ensure!(rows.len() == 5, "{rows:?}");
    ensure!(
        rows.iter()
            .all(|r| &r[0] == HOSTILE_HOST && &r[1] == HOSTILE_COMM),
        "csv must carry the exact host and comm: {rows:?}"
    );
    ensure!(
        rows.iter().filter(|r| &r[3] == HOSTILE_PATH).count() == 3,
        "csv must carry the exact path: {rows:?}"
    );
    a[6] = "json";
    let json_text = sockrec_ok(&a)?;
    let parsed: serde_json::Value = serde_json::from_str(&json_text)
        .map_err(|e| format!("json does not parse back: {e}: {json_text:?}"))?;
    let objects = parsed.as_array().ok_or("json: not an array")?;
    ensure!(objects.len() == 5, "{json_text}");
    ensure!(
        objects
            .iter()
            .all(|o| o["comm"] == HOSTILE_COMM && o["host"] == HOSTILE_HOST),
        "json must carry the exact host and comm: {json_text}"
    );
    ensure!(
        objects.iter().filter(|o| o["addr"] == HOSTILE_PATH).count() == 3,
        "json must carry the exact path: {json_text}"
    );
    Ok(())
}

fn one_escaped_error(out: &Output) -> Result<String, String> {
    ensure!(out.status.code() == Some(1), "exit {:?}", out.status.code());
    let line = util::one_error_line(out)?;
    ensure!(
        !has_raw_controls(&line),
        "raw controls in the error: {line:?}"
    );
    Ok(line)
}

/// `sockrec info` shows a crafted capture's metadata escaped; errors that
/// quote a hostile file name escape it.
fn info_and_errors() -> TestResult {
    let dir = TempDir::new("terminal-info");
    let cap = dir.path().join("hostile.parquet");
    hostile_capture(&cap);
    let text = sockrec_ok(&["info", cap.to_str().unwrap()])?;
    ensure!(
        !has_raw_controls(&text),
        "info wrote raw controls: {text:?}"
    );
    ensure!(
        text.contains(&format!("host:            {HOSTILE_HOST_SHOWN}\n")),
        "{text}"
    );

    let name = dir.path().join("\x1b[2Jgone\x07.parquet");
    let out = util::run(util::sockrec().arg("info").arg(&name));
    let line = one_escaped_error(&out)?;
    ensure!(line.contains("\\x1b[2Jgone\\x07.parquet"), "{line}");
    let out = util::run(util::sockrec().args(["query", "sofamily", "-i"]).arg(&name));
    one_escaped_error(&out)?;
    // The newest capture here, named with escapes, is announced escaped.
    // (DataFusion's object store then refuses such a name, "illegal
    // character sequence": that error is escaped too.)
    let here = TempDir::new("terminal-newest");
    std::fs::copy(&cap, here.path().join("\x1b]0;t\x07.parquet")).unwrap();
    let out = util::run(
        util::sockrec()
            .current_dir(here.path())
            .args(["query", "sofamily"]),
    );
    let err = util::stderr(&out);
    ensure!(!has_raw_controls(&err), "{err:?}");
    ensure!(err.contains("\\x1b]0;t\\x07.parquet"), "{err}");
    Ok(())
}
