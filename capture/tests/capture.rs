//! End-to-end tests of capture files: what [`CaptureWriter`] leaves on disk
//! after each flush, after finish and after a SIGKILL, read back with
//! parquet's own Arrow reader (as DuckDB/pandas would), and [`CaptureInfo`]'s
//! errors.

use std::fs;
use std::net::Ipv6Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, TimestampNanosecondType, UInt16Type, UInt64Type};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use sockrec_capture::{CaptureInfo, CaptureMeta, CaptureWriter, FORMAT_VERSION, capture_schema};
use sockrec_common::{EventKind, FLAG_IN_FLIGHT, SocketEvent};

const BOOT: i64 = 1_700_000_000_000_000_000;

/// A fresh, empty directory for one test.
fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sockrec-capture-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn meta() -> CaptureMeta {
    CaptureMeta {
        host: "testhost".into(),
        kernel: "6.1.0-test".into(),
        boot_time_ns: BOOT,
        start_ns: BOOT + 5_000_000_000,
        end_ns: 0,
        probes: "tracepoint:syscalls:sys_exit_connect".into(),
        lost: vec![0, 0],
        filters: "pid=42".into(),
        sockrec_version: "0.1.0-test".into(),
        ..CaptureMeta::default()
    }
}

fn event(kind: EventKind, time_ns: u64) -> SocketEvent {
    SocketEvent {
        cgroup_id: 77,
        pid: 42,
        tid: 43,
        uid: 1000,
        cpu: 1,
        comm: *b"testcomm\0\0\0\0\0\0\0\0",
        ..SocketEvent::new(kind, time_ns)
    }
}

fn with_addr(mut ev: SocketEvent, family: u16, body: &[u8], addr_len: u16) -> SocketEvent {
    ev.addr[..2].copy_from_slice(&family.to_le_bytes());
    ev.addr[2..2 + body.len()].copy_from_slice(body);
    ev.addr_len = addr_len;
    ev
}

/// The four address flavours, as one connect/bind each:
/// 127.0.0.1:8080 (refused), [::1]:443, /run/x.sock, @abstract.
fn address_events(t: u64) -> Vec<(SocketEvent, &'static str)> {
    let mut v4 = [0u8; 6];
    v4[..2].copy_from_slice(&8080u16.to_be_bytes());
    v4[2..].copy_from_slice(&[127, 0, 0, 1]);
    let mut v4 = with_addr(event(EventKind::Connect, t), 2, &v4, 16);
    v4.ret = -111;
    v4.fd = 3;
    v4.latency_ns = 1234;
    v4.family = 2;
    v4.sock_type = 1;
    v4.protocol = 6;

    let mut v6 = [0u8; 26];
    v6[..2].copy_from_slice(&443u16.to_be_bytes());
    v6[6..22].copy_from_slice(&Ipv6Addr::LOCALHOST.octets());
    let mut v6 = with_addr(event(EventKind::Connect, t + 1), 10, &v6, 28);
    v6.fd = 4;

    let unix = with_addr(event(EventKind::Bind, t + 2), 1, b"/run/x.sock\0", 2 + 12);
    let abs = with_addr(event(EventKind::Bind, t + 3), 1, b"\0abstract", 2 + 9);
    let exit_connect = "tracepoint:syscalls:sys_exit_connect";
    let exit_bind = "tracepoint:syscalls:sys_exit_bind";
    // In the order a row group holds them: kind by kind, by name.
    vec![
        (unix, exit_bind),
        (abs, exit_bind),
        (v4, exit_connect),
        (v6, exit_connect),
    ]
}

/// A send of `n` bytes and an accept still in flight.
fn other_events(t: u64) -> Vec<(SocketEvent, &'static str)> {
    let mut send = event(EventKind::Send, t);
    send.ret = 512;
    send.fd = 5;
    let mut accept = event(EventKind::Accept, t + 1);
    accept.flags = FLAG_IN_FLIGHT;
    accept.ret = 99; // garbage: must not show up
    accept.fd = 6;
    // In the order a row group holds them: kind by kind, by name.
    vec![
        (accept, "tracepoint:syscalls:sys_enter_accept"),
        (send, "kprobe:sock_sendmsg"),
    ]
}

/// Reads a capture the way any Parquet consumer would: footer, then all rows.
fn read_all(path: &Path) -> (Vec<RecordBatch>, Vec<KeyValue>, usize) {
    let file = fs::File::open(path).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let kv = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned()
        .unwrap_or_default();
    let row_groups = builder.metadata().num_row_groups();
    let batches = builder
        .build()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (batches, kv, row_groups)
}

fn kv_get<'a>(kv: &'a [KeyValue], key: &str) -> Option<&'a str> {
    kv.iter()
        .find(|k| k.key == key)
        .and_then(|k| k.value.as_deref())
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// Concatenates one string column across batches.
fn strings(batches: &[RecordBatch], col: &str) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| {
            let c = b.column_by_name(col).unwrap();
            // host, kind, probe and comm are dictionaries; addr is not.
            match c.as_dictionary_opt::<arrow_array::types::Int32Type>() {
                Some(d) => {
                    let values = d.values().as_string::<i32>();
                    d.keys()
                        .iter()
                        .map(|k| k.map(|k| values.value(k as usize).to_string()))
                        .collect::<Vec<_>>()
                }
                None => c
                    .as_string::<i32>()
                    .iter()
                    .map(|s| s.map(str::to_string))
                    .collect(),
            }
        })
        .collect()
}

#[test]
fn file_is_readable_after_each_flush_and_complete_after_finish() {
    let dir = test_dir("flush");
    let path = dir.join("c.parquet");
    let mut w = CaptureWriter::create(&path, false, meta()).unwrap();

    // Right after create: a valid, empty capture.
    let (batches, kv, _) = read_all(&path);
    assert_eq!(rows(&batches), 0);
    assert_eq!(kv_get(&kv, "sockrec.complete"), Some("false"));
    assert_eq!(w.bytes_written(), fs::metadata(&path).unwrap().len());

    for (ev, probe) in address_events(1_000) {
        w.push(&ev, probe);
    }
    assert_eq!(w.buffered_rows(), 4);
    assert_eq!(w.rows_written(), 0);
    w.meta_mut().lost = vec![3, 4];
    w.flush().unwrap();
    assert_eq!(w.buffered_rows(), 0);
    assert_eq!(w.rows_written(), 4);
    assert_eq!(w.bytes_written(), fs::metadata(&path).unwrap().len());

    // First flush, writer still alive (as if it had been SIGKILLed now).
    let (batches, kv, row_groups) = read_all(&path);
    assert_eq!(rows(&batches), 4);
    assert_eq!(row_groups, 1);
    assert_eq!(kv_get(&kv, "sockrec.complete"), Some("false"));
    assert_eq!(
        kv_get(&kv, "sockrec.format_version"),
        Some(FORMAT_VERSION.to_string().as_str())
    );
    assert_eq!(kv_get(&kv, "sockrec.lost"), Some("3,4"));
    assert_eq!(kv_get(&kv, "sockrec.host"), Some("testhost"));
    let end: i64 = kv_get(&kv, "sockrec.end_ns").unwrap().parse().unwrap();
    assert!(end > BOOT, "provisional end_ns is the flush time: {end}");
    // The Arrow types survive the provisional footer (ARROW:schema).
    assert_eq!(batches[0].schema(), capture_schema());
    assert_eq!(
        batches[0]
            .schema()
            .field_with_name("time")
            .unwrap()
            .data_type(),
        &DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
    );

    let b = &batches[0];
    assert_eq!(
        strings(&batches, "addr"),
        ["/run/x.sock", "@abstract", "127.0.0.1", "::1"].map(|s| Some(s.to_string()))
    );
    let port = b
        .column_by_name("port")
        .unwrap()
        .as_primitive::<UInt16Type>();
    assert_eq!(
        port.iter().collect::<Vec<_>>(),
        [None, None, Some(8080), Some(443)]
    );
    let fam = b
        .column_by_name("addr_family")
        .unwrap()
        .as_primitive::<UInt16Type>();
    assert_eq!(
        fam.iter().collect::<Vec<_>>(),
        [Some(1), Some(1), Some(2), Some(10)]
    );
    let errno = b
        .column_by_name("errno")
        .unwrap()
        .as_primitive::<Int32Type>();
    assert_eq!(
        errno.iter().collect::<Vec<_>>(),
        [None, None, Some(111), None]
    );
    let fd = b.column_by_name("fd").unwrap().as_primitive::<Int32Type>();
    assert_eq!(
        fd.iter().collect::<Vec<_>>(),
        [None, None, Some(3), Some(4)]
    );
    let lat = b
        .column_by_name("latency_ns")
        .unwrap()
        .as_primitive::<UInt64Type>();
    assert_eq!(lat.value(2), 1234);
    let time = b
        .column_by_name("time")
        .unwrap()
        .as_primitive::<TimestampNanosecondType>();
    assert_eq!(time.value(2), BOOT + 1_000);
    assert_eq!(
        strings(&batches, "kind"),
        ["bind", "bind", "connect", "connect"].map(|s| Some(s.to_string()))
    );
    assert_eq!(
        strings(&batches, "probe")[0].as_deref(),
        Some("tracepoint:syscalls:sys_exit_bind")
    );
    assert_eq!(strings(&batches, "comm")[0].as_deref(), Some("testcomm"));
    assert_eq!(strings(&batches, "host")[3].as_deref(), Some("testhost"));

    // Second flush: the new row group replaces the provisional footer.
    for (ev, probe) in other_events(2_000) {
        w.push(&ev, probe);
    }
    w.flush().unwrap();
    let (batches, kv, row_groups) = read_all(&path);
    assert_eq!(rows(&batches), 6);
    assert_eq!(row_groups, 2);
    assert_eq!(kv_get(&kv, "sockrec.complete"), Some("false"));
    let last = batches.last().unwrap();
    let n = last.num_rows();
    let ret = last
        .column_by_name("ret")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(
        ret.iter().skip(n - 2).collect::<Vec<_>>(),
        [None, Some(512)]
    );
    let bytes = last
        .column_by_name("bytes")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(
        bytes.iter().skip(n - 2).collect::<Vec<_>>(),
        [None, Some(512)]
    );
    let in_flight = last.column_by_name("in_flight").unwrap().as_boolean();
    assert!(in_flight.value(n - 2));

    // An empty flush still refreshes the metadata.
    w.meta_mut().lost = vec![5, 6];
    w.flush().unwrap();
    let (batches, kv, _) = read_all(&path);
    assert_eq!(rows(&batches), 6);
    assert_eq!(kv_get(&kv, "sockrec.lost"), Some("5,6"));

    // Events pushed after the last flush go into finish's row group.
    w.push(
        &event(EventKind::Socket, 3_000),
        "tracepoint:syscalls:sys_exit_socket",
    );
    w.meta_mut().end_ns = BOOT + 9_000_000_000;
    let summary = w.finish().unwrap();
    assert_eq!(summary.rows, 7);
    assert_eq!(summary.bytes, fs::metadata(&path).unwrap().len());
    let (batches, kv, row_groups) = read_all(&path);
    assert_eq!(rows(&batches), 7);
    assert_eq!(row_groups, 3);
    assert_eq!(kv_get(&kv, "sockrec.complete"), Some("true"));
    assert_eq!(kv_get(&kv, "sockrec.end_ns"), Some("1700000009000000000"));

    // And sockrec's own reader agrees.
    let info = CaptureInfo::open(&path).unwrap();
    assert!(info.meta.complete);
    assert_eq!(info.rows, 7);
    assert_eq!(info.meta.format_version, FORMAT_VERSION);
    assert_eq!(info.meta.host, "testhost");
    assert_eq!(info.meta.kernel, "6.1.0-test");
    assert_eq!(info.meta.lost, [5, 6]);
    assert_eq!(info.meta.lost_total(), 11);
    assert_eq!(info.meta.filters, "pid=42");
    assert_eq!(info.meta.boot_time_ns, BOOT);
    assert_eq!(info.meta.duration(), Duration::from_secs(4));
    assert_eq!(
        info.events_per_kind().unwrap(),
        [
            ("socket", 1),
            ("bind", 2),
            ("connect", 2),
            ("accept", 1),
            ("send", 1)
        ]
        .map(|(k, n)| (k.to_string(), n))
    );

    fs::remove_dir_all(&dir).unwrap();
}

/// A capture's metadata, as [`CaptureInfo`] reads it, handed to a writer
/// (how a copy of part of a capture keeps its recording's facts): the new
/// file reads back with the same facts, `complete` being the new writer's.
#[test]
fn a_readers_metadata_goes_to_a_writer_as_it_is() {
    let dir = test_dir("handover");
    let first = dir.join("first.parquet");
    let mut m = meta();
    m.end_ns = BOOT + 7_000_000_000;
    m.lost = vec![1, 2, 3];
    m.probes = "a, b\nc\x1b".into();
    let w = CaptureWriter::create(&first, false, m.clone()).unwrap();
    w.finish().unwrap();
    let read = CaptureInfo::open(&first).unwrap().meta;
    assert_eq!(
        read,
        CaptureMeta {
            complete: true,
            ..m.clone()
        }
    );

    let copy = dir.join("copy.parquet");
    let mut w = CaptureWriter::create(&copy, false, read.clone()).unwrap();
    w.flush().unwrap();
    let provisional = CaptureInfo::open(&copy).unwrap().meta;
    assert!(!provisional.complete);
    w.finish().unwrap();
    assert_eq!(CaptureInfo::open(&copy).unwrap().meta, read);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn interrupted_capture_is_readable_and_marked_incomplete() {
    let dir = test_dir("interrupted");
    let path = dir.join("c.parquet");
    let mut w = CaptureWriter::create(&path, false, meta()).unwrap();
    for (ev, probe) in address_events(1) {
        w.push(&ev, probe);
    }
    w.flush().unwrap();
    // Buffered but never flushed: lost with the process.
    w.push(&event(EventKind::Socket, 9), "p");
    // Metadata changes only reach the file with a flush, too.
    w.meta_mut().probes = "first\nsecond".into();
    std::mem::forget(w);

    let info = CaptureInfo::open(&path).unwrap();
    assert!(!info.meta.complete);
    assert_eq!(info.rows, 4);
    assert_eq!(info.meta.probes, "tracepoint:syscalls:sys_exit_connect");
    assert_eq!(info.meta.filters, "pid=42");
    fs::remove_dir_all(&dir).unwrap();
}

/// Environment variable that turns [`sigkill_child`] into the recorder the
/// SIGKILL test kills.
const CHILD_ENV: &str = "SOCKREC_CAPTURE_TEST_CHILD";

/// Not a test on its own (so ignored): run by [`survives_sigkill_after_flush`]
/// in a child process, it writes and flushes a capture, says so, and waits
/// to be killed.
#[test]
#[ignore = "a helper: survives_sigkill_after_flush runs it in a child to kill"]
fn sigkill_child() {
    let path = std::env::var_os(CHILD_ENV).unwrap_or_else(|| {
        panic!("{CHILD_ENV} names the capture to write: run by survives_sigkill_after_flush")
    });
    let path = PathBuf::from(path);
    let mut w = CaptureWriter::create(&path, false, meta()).unwrap();
    for round in 0..3u64 {
        for i in 0..1000 {
            w.push(
                &event(EventKind::Send, round * 1000 + i),
                "kprobe:sock_sendmsg",
            );
        }
        w.flush().unwrap();
    }
    // Buffered only: must not appear.
    w.push(&event(EventKind::Recv, 1), "kprobe:sock_recvmsg");
    fs::write(path.with_extension("ready"), b"").unwrap();
    std::thread::sleep(Duration::from_secs(60));
    panic!("not killed");
}

#[test]
fn survives_sigkill_after_flush() {
    let dir = test_dir("sigkill");
    let path = dir.join("c.parquet");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "sigkill_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ready = path.with_extension("ready");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("child exited early: {status}");
        }
        assert!(Instant::now() < deadline, "child never got ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let (batches, kv, row_groups) = read_all(&path);
    assert_eq!(rows(&batches), 3000);
    assert_eq!(row_groups, 3);
    assert_eq!(kv_get(&kv, "sockrec.complete"), Some("false"));
    let info = CaptureInfo::open(&path).unwrap();
    assert_eq!(info.rows, 3000);
    assert_eq!(
        info.events_per_kind().unwrap(),
        [("send".to_string(), 3000)]
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn create_refuses_to_overwrite_without_force() {
    let dir = test_dir("exists");
    let path = dir.join("c.parquet");
    fs::write(&path, b"precious").unwrap();
    let err = CaptureWriter::create(&path, false, meta()).err().unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "capture {} already exists (use --force to overwrite)",
            path.display()
        )
    );
    assert_eq!(fs::read(&path).unwrap(), b"precious");

    let w = CaptureWriter::create(&path, true, meta()).unwrap();
    assert_eq!(w.finish().unwrap().rows, 0);
    assert_eq!(CaptureInfo::open(&path).unwrap().rows, 0);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn capture_is_private() {
    let dir = test_dir("mode");
    let path = dir.join("c.parquet");
    let w = CaptureWriter::create(&path, false, meta()).unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    w.finish().unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

/// Writes a plain (non-sockrec-written) Parquet file with the given metadata.
fn plain_parquet(path: &Path, kv: Vec<KeyValue>) {
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(kv))
        .build();
    let file = fs::File::create(path).unwrap();
    let w = ArrowWriter::try_new(file, capture_schema(), Some(props)).unwrap();
    w.close().unwrap();
}

#[test]
fn info_errors_are_one_clear_line() {
    let dir = test_dir("errors");
    let err = |p: &Path| format!("{:#}", CaptureInfo::open(p).err().unwrap());

    let missing = dir.join("missing.parquet");
    assert_eq!(
        err(&missing),
        format!("{}: no such file", missing.display())
    );

    let garbage = dir.join("garbage.parquet");
    fs::write(&garbage, b"this is not parquet at all").unwrap();
    assert_eq!(
        err(&garbage),
        format!("{}: not a Parquet file", garbage.display())
    );
    let empty = dir.join("empty.parquet");
    fs::write(&empty, b"").unwrap();
    assert_eq!(
        err(&empty),
        format!("{}: not a Parquet file", empty.display())
    );

    let damaged = dir.join("damaged.parquet");
    fs::write(&damaged, b"PAR1 row group bytes, then the recorder died").unwrap();
    let e = err(&damaged);
    assert!(
        e.starts_with(&format!(
            "{}: damaged Parquet file (no valid footer",
            damaged.display()
        )),
        "{e}"
    );

    let foreign = dir.join("foreign.parquet");
    plain_parquet(
        &foreign,
        vec![KeyValue::new("other".into(), "x".to_string())],
    );
    assert_eq!(
        err(&foreign),
        format!(
            "{}: not a sockrec capture (no sockrec.format_version metadata)",
            foreign.display()
        )
    );

    let newer = dir.join("newer.parquet");
    plain_parquet(
        &newer,
        vec![KeyValue::new(
            "sockrec.format_version".into(),
            (FORMAT_VERSION + 1).to_string(),
        )],
    );
    assert_eq!(
        err(&newer),
        format!(
            "{}: capture format version {} is newer than this sockrec understands ({FORMAT_VERSION})",
            newer.display(),
            FORMAT_VERSION + 1,
        )
    );

    for e in [
        err(&missing),
        err(&garbage),
        err(&damaged),
        err(&foreign),
        err(&newer),
    ] {
        assert!(!e.contains('\n'), "{e}");
    }
    fs::remove_dir_all(&dir).unwrap();
}

/// A capture whose recorder died before its first flush is an empty capture.
#[test]
fn capture_killed_before_first_flush_is_empty_not_broken() {
    let dir = test_dir("noflush");
    let path = dir.join("c.parquet");
    let mut w = CaptureWriter::create(&path, false, meta()).unwrap();
    w.push(&event(EventKind::Socket, 1), "p");
    std::mem::forget(w);
    let info = CaptureInfo::open(&path).unwrap();
    assert_eq!(info.rows, 0);
    assert!(!info.meta.complete);
    assert!(info.events_per_kind().unwrap().is_empty());
    fs::remove_dir_all(&dir).unwrap();
}
