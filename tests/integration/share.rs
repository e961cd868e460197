//! Sharing captures: `sockrec slice` and `sockrec redact`.
//!
//! A slice is checked as a user would check it: it holds exactly the rows
//! that SQL's WHERE over the original keeps, it is still a capture (`info`
//! shows the recording's metadata and what was cut, every report runs on
//! it), and it is as private as a recording (mode 0600, no overwrite). A
//! redacted capture holds none of the original's addresses, paths or
//! names in any byte, and its reports count the same, names replaced one
//! to one.
//!
//! Nothing here needs root.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Output;

use sockrec_capture::{CaptureMeta, CaptureWriter};
use sockrec_common::{EventKind, SocketEvent};

use crate::query::{ALL_REPORTS, fixture, query_ok};
use crate::{
    ensure,
    util::{self, TempDir, TestResult, Tests},
};

pub const TESTS: Tests = crate::tests![
    slice_keeps_what_sql_keeps,
    slice_of_several_hosts_takes_one,
    slice_refuses_bad_input,
    redact_hides_names_and_keeps_counts,
    redact_of_a_recording_runs_every_report,
];

/// Every row of the captures `inputs`, all columns but `capture`, as csv
/// lines, sorted (a multiset: files may be scanned in any order).
fn rows(inputs: &[&Path], condition: &str) -> Result<Vec<String>, String> {
    let mut args = vec![
        "-e".to_string(),
        format!("SELECT * EXCLUDE (capture) FROM events WHERE {condition}"),
        "--format".into(),
        "csv".into(),
    ];
    for i in inputs {
        args.push("-i".into());
        args.push(i.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = query_ok(&args)?;
    let mut lines: Vec<String> = out.lines().skip(1).map(str::to_string).collect();
    lines.sort();
    Ok(lines)
}

/// `sockrec slice ARGS`, which must succeed; its stderr.
fn slice_ok(args: &[&str]) -> Result<String, String> {
    let out = util::run(util::sockrec().arg("slice").args(args));
    let err = util::stderr(&out);
    ensure!(out.status.success(), "slice {args:?}: {err}");
    Ok(err)
}

/// `sockrec slice ARGS` fails with one line that contains `wanted`.
fn slice_fails(args: &[&str], wanted: &str) -> TestResult {
    let out = util::run(util::sockrec().arg("slice").args(args));
    ensure!(!out.status.success(), "slice {args:?} succeeded");
    let line = util::one_error_line(&out)?;
    ensure!(
        line.contains(wanted),
        "slice {args:?}: {line:?}, wanted {wanted:?}"
    );
    Ok(())
}

/// `sockrec info`'s value of `label`.
fn info_value(path: &Path, label: &str) -> Result<String, String> {
    let out = util::run(util::sockrec().arg("info").arg(path));
    ensure!(out.status.success(), "{}", util::stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{label}:")))
        .map(|v| v.trim().to_string())
        .ok_or_else(|| format!("no {label} in {text}"))
}

/// A slice by time and process holds exactly the rows SQL's WHERE keeps,
/// keeps the recording's metadata and says what was cut; every report
/// runs on it; it is written 0600 and never over a file without --force.
fn slice_keeps_what_sql_keeps() -> TestResult {
    let dir = TempDir::new("slice");
    let source = fixture("connections");
    // A time in the middle of the recording's events, and its busiest pid.
    let middle = query_ok(&[
        "-e",
        "SELECT to_char(to_timestamp_nanos((min(CAST(time AS BIGINT)) + max(CAST(time AS BIGINT))) / 2), '%Y-%m-%dT%H:%M:%S%.9fZ') FROM events",
        "--format",
        "csv",
        "-i",
        source.to_str().unwrap(),
    ])?;
    let middle = middle.lines().nth(1).ok_or("no middle time")?.to_string();
    let pid = query_ok(&[
        "-e",
        "SELECT pid FROM events GROUP BY pid ORDER BY count(*) DESC LIMIT 1",
        "--format",
        "csv",
        "-i",
        source.to_str().unwrap(),
    ])?;
    let pid = pid.lines().nth(1).ok_or("no pid")?.to_string();

    let out = dir.path().join("cut.parquet");
    let said = slice_ok(&[
        "-i",
        source.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--since",
        &middle,
        "--pid",
        &pid,
    ])?;
    let want = rows(&[&source], &format!("time >= '{middle}' AND pid = {pid}"))?;
    let all = rows(&[&source], "true")?;
    ensure!(
        !want.is_empty() && want.len() < all.len(),
        "the cut keeps {} of {} rows: not a cut that tests anything",
        want.len(),
        all.len()
    );
    let got = rows(&[&out], "true")?;
    ensure!(
        got == want,
        "slice has {} rows, SQL keeps {}",
        got.len(),
        want.len()
    );
    ensure!(
        said.contains(&format!("wrote {} of {} events", want.len(), all.len())),
        "{said}"
    );

    // Still the recording: its probes, filters, lost counts; what was cut.
    for label in [
        "host",
        "kernel",
        "format version",
        "probes",
        "lost",
        "filters",
    ] {
        let (a, b) = (info_value(&source, label)?, info_value(&out, label)?);
        ensure!(a == b, "{label}: {a:?} in the source, {b:?} in the slice");
    }
    let derived = info_value(&out, "derived")?;
    ensure!(
        derived.contains("slice of connections.parquet")
            && derived.contains(&format!("--pid {pid}"))
            && derived.contains("--since"),
        "derived: {derived}"
    );
    // The same facts for scripts.
    let json = util::run(util::sockrec().args(["info", "--format", "json"]).arg(&out));
    ensure!(json.status.success(), "{}", util::stderr(&json));
    let json: serde_json::Value =
        serde_json::from_slice(&json.stdout).map_err(|e| e.to_string())?;
    ensure!(
        json["rows"] == want.len() && json["derived"][0].as_str() == Some(derived.as_str()),
        "info --format json: {json}"
    );
    let kinds: u64 = json["events"]
        .as_object()
        .ok_or("no events object")?
        .values()
        .filter_map(serde_json::Value::as_u64)
        .sum();
    ensure!(kinds == want.len() as u64, "events per kind sum to {kinds}");
    let start = info_value(&out, "start")?;
    ensure!(
        start.starts_with(&middle[..19]),
        "start {start}, cut at {middle}"
    );

    // Every report runs on it.
    for (report, _) in ALL_REPORTS {
        query_ok(&[report, "-i", out.to_str().unwrap()])
            .map_err(|e| format!("{report} on the slice: {e}"))?;
    }

    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    ensure!(mode == 0o600, "mode {mode:o}");
    slice_fails(
        &["-i", source.to_str().unwrap(), "-o", out.to_str().unwrap()],
        "already exists",
    )?;
    slice_ok(&[
        "-i",
        source.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--force",
        "--events",
        "tcp_state,connect",
        "--where",
        "rport = 0 OR lport > 1000",
    ])?;
    let want = rows(
        &[&source],
        "kind IN ('tcp_state', 'connect') AND (rport = 0 OR lport > 1000)",
    )?;
    ensure!(
        rows(&[&out], "true")? == want,
        "--events/--where slice differs"
    );

    // A format 1 capture slices to a format 1 capture.
    let v1 = dir.path().join("v1.parquet");
    slice_ok(&[
        "-i",
        fixture("host-a").to_str().unwrap(),
        "-o",
        v1.to_str().unwrap(),
        "--until",
        "+1h",
    ])?;
    ensure!(info_value(&v1, "format version")? == "1", "not format 1");
    ensure!(
        rows(&[&v1], "true")? == rows(&[&fixture("host-a")], "true")?,
        "an hour-long slice of a short recording lost rows"
    );
    Ok(())
}

/// Captures of two hosts: a slice is one host's, chosen with --host.
fn slice_of_several_hosts_takes_one() -> TestResult {
    let dir = TempDir::new("slice-hosts");
    let (a, b) = (fixture("host-a"), fixture("host-b"));
    let out = dir.path().join("b.parquet");
    slice_fails(
        &[
            "-i",
            a.to_str().unwrap(),
            "-i",
            b.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        "several hosts (fixture-a, fixture-b)",
    )?;
    ensure!(!out.exists(), "a failed slice left a file");
    slice_ok(&[
        "-i",
        a.to_str().unwrap(),
        "-i",
        b.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--host",
        "fixture-b",
    ])?;
    ensure!(
        rows(&[&out], "true")? == rows(&[&b], "true")?,
        "--host fixture-b is not host-b's capture"
    );
    let hosts: BTreeSet<String> = rows(&[&out], "true")?
        .iter()
        .filter_map(|l| l.split(',').nth(2).map(str::to_string))
        .collect();
    ensure!(hosts.len() == 1, "hosts {hosts:?}");
    Ok(())
}

/// Bad input: one line, exit 1, nothing written, the inputs untouched.
fn slice_refuses_bad_input() -> TestResult {
    let dir = TempDir::new("slice-bad");
    let source = fixture("connections");
    let src = source.to_str().unwrap();
    let out = dir.path().join("out.parquet");
    let o = out.to_str().unwrap();
    slice_fails(
        &["-i", src, "-o", o, "--since", "+20s", "--until", "+10s"],
        "--since is not before --until",
    )?;
    slice_fails(
        &["-i", src, "-o", o, "--events", "conect"],
        "unknown event kind \"conect\"",
    )?;
    slice_fails(
        &["-i", src, "-o", o, "--where", "no_such_column = 1"],
        "--where",
    )?;
    slice_fails(&["-i", src, "-o", o, "--where", "pid ="], "--where")?;
    slice_fails(
        &["-i", src, "-o", o, "--host", "elsewhere"],
        "no capture of host elsewhere",
    )?;
    // A value clap refuses: its usage error, exit 2.
    let bad =
        util::run(util::sockrec().args(["slice", "-i", src, "-o", o, "--since", "yesterday"]));
    let err = util::stderr(&bad);
    ensure!(
        bad.status.code() == Some(2) && err.lines().next().is_some_and(|l| l.contains("RFC 3339")),
        "--since yesterday: {err}"
    );
    slice_fails(&["-i", "no-such.parquet", "-o", o], "no such file")?;
    ensure!(!out.exists(), "a failed slice left {o}");
    let copy = dir.path().join("copy.parquet");
    std::fs::copy(&source, &copy).unwrap();
    let c = copy.to_str().unwrap();
    slice_fails(&["-i", c, "-o", c, "--force"], "is the output too")?;
    ensure!(
        std::fs::read(&copy).unwrap() == std::fs::read(&source).unwrap(),
        "the input changed"
    );
    Ok(())
}

/// What the redaction test's capture holds that must not survive it.
const SECRETS: [&str; 11] = [
    "203.0.113.7",
    "198.51.100.20",
    "192.0.2.99",
    "192.0.2.10",
    "2001:db8::42",
    "customer-42",
    "customer-abstract",
    "secret-client",
    "secret-server",
    "db-prod-17",
    "tenant-x",
];

/// A capture of a client talking to other machines: IPv4 (one refused),
/// IPv6, an IPv4-mapped IPv6 address, loopback, UNIX paths and an abstract
/// name, TCP rows with both ends; recorded (as the filters say) under a
/// comm and a cgroup that name the customer.
fn private_capture(path: &Path) {
    let meta = CaptureMeta {
        host: "db-prod-17".into(),
        kernel: "6.18.0-test".into(),
        boot_time_ns: BOOT,
        start_ns: BOOT,
        end_ns: BOOT + 2_000_000_000,
        probes: "connect=tracepoint:syscalls:sys_enter_connect".into(),
        lost: vec![0, 3],
        filters: "comm=secret-client cgroup=/sys/fs/cgroup/tenant-x".into(),
        sockrec_version: "test".into(),
        ..CaptureMeta::default()
    };
    let mut w = CaptureWriter::create(path, false, meta).unwrap();
    let mut t = 1_000u64;
    let mut push = |comm: &str,
                    family: u16,
                    addr: &[u8],
                    port: u16,
                    ret: i64,
                    ends: Option<([u8; 16], [u8; 16])>| {
        t += 1_000;
        let mut ev = SocketEvent {
            pid: if comm == "secret-client" { 100 } else { 200 },
            tid: 100,
            fd: 3,
            family,
            sock_type: libc::SOCK_STREAM as u16,
            ret,
            latency_ns: 5_000,
            inode: t,
            sock: t,
            ..SocketEvent::new(EventKind::Connect, t)
        };
        ev.comm[..comm.len()].copy_from_slice(comm.as_bytes());
        ev.addr[..2].copy_from_slice(&family.to_le_bytes());
        match family as i32 {
            libc::AF_INET => {
                ev.addr[2..4].copy_from_slice(&port.to_be_bytes());
                ev.addr[4..8].copy_from_slice(addr);
                ev.addr_len = 16;
            }
            libc::AF_INET6 => {
                ev.addr[2..4].copy_from_slice(&port.to_be_bytes());
                ev.addr[8..24].copy_from_slice(addr);
                ev.addr_len = 28;
            }
            _ => {
                ev.addr[2..2 + addr.len()].copy_from_slice(addr);
                ev.addr_len = (2 + addr.len()) as u16;
            }
        }
        if let Some((l, r)) = ends {
            ev.laddr = l;
            ev.raddr = r;
            ev.lport = 40_000;
            ev.rport = port;
            ev.flags |= sockrec_common::FLAG_ENDS;
        }
        w.push(&ev, "tracepoint:syscalls:sys_enter_connect");
    };
    let v4 = |a: [u8; 4]| {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&a);
        b
    };
    let (inet, inet6, unix) = (
        libc::AF_INET as u16,
        libc::AF_INET6 as u16,
        libc::AF_UNIX as u16,
    );
    for _ in 0..3 {
        push(
            "secret-client",
            inet,
            &[203, 0, 113, 7],
            443,
            0,
            Some((v4([192, 0, 2, 10]), v4([203, 0, 113, 7]))),
        );
    }
    for _ in 0..2 {
        push(
            "secret-client",
            inet,
            &[198, 51, 100, 20],
            80,
            0,
            Some((v4([192, 0, 2, 10]), v4([198, 51, 100, 20]))),
        );
    }
    push(
        "secret-client",
        inet,
        &[192, 0, 2, 99],
        22,
        -(libc::ECONNREFUSED as i64),
        None,
    );
    push(
        "secret-server",
        inet,
        &[127, 0, 0, 1],
        6379,
        0,
        Some((v4([127, 0, 0, 1]), v4([127, 0, 0, 1]))),
    );
    let v6: [u8; 16] = "2001:db8::42"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets();
    let mapped: [u8; 16] = "::ffff:203.0.113.7"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets();
    for _ in 0..2 {
        push("secret-server", inet6, &v6, 8443, 0, None);
    }
    push("secret-client", inet6, &mapped, 443, 0, None);
    for _ in 0..2 {
        push(
            "secret-client",
            unix,
            b"/run/customer-42.sock\0",
            0,
            0,
            None,
        );
    }
    push("secret-server", unix, b"\0customer-abstract", 0, 0, None);
    w.finish().unwrap();
}

const BOOT: i64 = 1_700_000_000_000_000_000;

/// All a capture holds, as text: its bytes as they are (the footer's
/// metadata and statistics are not compressed), every value of every row
/// decoded (the pages are zstd), and `sockrec info --format json`.
fn everything(path: &Path) -> Result<String, String> {
    let mut text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
    let p = path.to_str().unwrap();
    text += &query_ok(&["-e", "SELECT * FROM events", "--format", "csv", "-i", p])?;
    let info = util::run(util::sockrec().args(["info", "--format", "json", p]));
    text += &String::from_utf8_lossy(&info.stdout);
    Ok(text)
}

/// `sockrec query` csv lines (header first).
fn csv(args: &[&str]) -> Result<Vec<Vec<String>>, String> {
    let mut args = args.to_vec();
    args.extend(["--format", "csv"]);
    Ok(crate::query::csv_rows(&query_ok(&args)?))
}

/// Whether a report's column holds a name or an address: comm, c_comm,
/// process, host, addr, laddr, daddr, address... (not skaddr, a kernel
/// address).
fn is_name(column: &str) -> bool {
    column.contains("comm")
        || column == "host"
        || column == "process"
        || (column.contains("addr") && column != "skaddr")
}

/// `redacted` is `original` with the values of [`is_name`] columns replaced one to
/// one (a value always by the same, two values never by one), changed but
/// where `kept` says, and every other value as it was.
fn replaced_one_to_one(
    original: &[Vec<String>],
    redacted: &[Vec<String>],
    kept: impl Fn(&str) -> bool,
) -> TestResult {
    ensure!(
        original.len() == redacted.len(),
        "{} rows, then {}",
        original.len(),
        redacted.len()
    );
    let header = &original[0];
    ensure!(
        header == &redacted[0],
        "headers {header:?} and {:?}",
        redacted[0]
    );
    let mut there = std::collections::HashMap::new();
    let mut back = std::collections::HashMap::new();
    for (a, b) in original.iter().zip(redacted).skip(1) {
        for (i, name) in header.iter().enumerate() {
            if !is_name(name) {
                ensure!(a[i] == b[i], "{name}: {} became {}", a[i], b[i]);
                continue;
            }
            ensure!(
                kept(&a[i]) == (a[i] == b[i]),
                "{name}: {} became {}",
                a[i],
                b[i]
            );
            ensure!(
                *there.entry(a[i].clone()).or_insert(b[i].clone()) == b[i],
                "{} replaced two ways",
                a[i]
            );
            ensure!(
                *back.entry(b[i].clone()).or_insert(a[i].clone()) == a[i],
                "two values became {}",
                b[i]
            );
        }
    }
    Ok(())
}

/// A redacted capture holds no address, path, name or host of the
/// original anywhere in its bytes (metadata included), keeps loopback, and
/// its reports count the same with the names replaced one to one; one key
/// gives the same names every time, another key others.
/// `sockrec redact -i SOURCE -o OUT EXTRA...`.
fn redact(source: &Path, out: &Path, extra: &[&str]) -> Output {
    util::run(
        util::sockrec()
            .args(["redact", "-i"])
            .arg(source)
            .arg("-o")
            .arg(out)
            .args(extra),
    )
}

/// [`redact`] that must succeed: what it said on stderr.
fn redact_ok(source: &Path, out: &Path, extra: &[&str]) -> Result<String, String> {
    let o = redact(source, out, extra);
    let err = util::stderr(&o);
    ensure!(o.status.success(), "redact {extra:?}: {err}");
    Ok(err)
}

fn redact_hides_names_and_keeps_counts() -> TestResult {
    let dir = TempDir::new("redact");
    let source = dir.path().join("private.parquet");
    private_capture(&source);
    for secret in SECRETS {
        ensure!(
            everything(&source)?.contains(secret),
            "the test capture lacks {secret}: the check below would prove nothing"
        );
    }
    let key = dir.path().join("key");
    std::fs::write(&key, b"a key of thirty-two bytes, fixed").unwrap();
    let out = dir.path().join("shared.parquet");
    let run = |out: &Path, extra: &[&str]| redact_ok(&source, out, extra);
    let said = run(&out, &["--key", key.to_str().unwrap()])?;
    ensure!(said.contains("6 addresses, 3 paths, 3 names"), "{said}");
    let shared = everything(&out)?;
    for secret in SECRETS {
        ensure!(
            !shared.contains(secret),
            "{secret} is still in the redacted file"
        );
    }
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    ensure!(mode == 0o600, "mode {mode:o}");

    let (src, red) = (source.to_str().unwrap(), out.to_str().unwrap());
    let kept = |v: &str| v.is_empty() || v == "127.0.0.1";
    replaced_one_to_one(
        &csv(&["soconnect", "-i", src])?,
        &csv(&["soconnect", "-i", red])?,
        kept,
    )?;
    let ends = "SELECT time, pid, comm, laddr, lport, raddr, rport, addr FROM events ORDER BY time";
    replaced_one_to_one(
        &csv(&["-e", ends, "-i", src])?,
        &csv(&["-e", ends, "-i", red])?,
        kept,
    )?;
    let counts = "SELECT host, comm, count(*) AS n FROM events GROUP BY host, comm ORDER BY n";
    replaced_one_to_one(
        &csv(&["-e", counts, "-i", src])?,
        &csv(&["-e", counts, "-i", red])?,
        |_| false,
    )?;
    let mapped = &csv(&[
        "-e",
        "SELECT DISTINCT addr FROM events WHERE addr LIKE '::ffff:%'",
        "-i",
        red,
    ])?;
    ensure!(
        mapped.len() == 2,
        "the IPv4-mapped address lost its form: {mapped:?}"
    );
    for label in ["lost", "probes", "format version"] {
        let (a, b) = (info_value(&source, label)?, info_value(&out, label)?);
        ensure!(a == b, "{label}: {a:?}, then {b:?}");
    }
    ensure!(
        info_value(&out, "derived")?.starts_with("redact: "),
        "no derived line"
    );

    // Under one key the names are the same each time; another key, others.
    let again = dir.path().join("again.parquet");
    run(&again, &["--key", key.to_str().unwrap()])?;
    let all = "SELECT * EXCLUDE (capture) FROM events ORDER BY time";
    let first = csv(&["-e", all, "-i", red])?;
    ensure!(
        csv(&["-e", all, "-i", again.to_str().unwrap()])? == first,
        "one key, two redactions"
    );
    let other = dir.path().join("other.parquet");
    let said = run(&other, &[])?;
    ensure!(said.contains("random"), "{said}");
    ensure!(
        csv(&["-e", all, "-i", other.to_str().unwrap()])? != first,
        "a random key gave the same names"
    );
    // A kept prefix stays.
    let prefix = dir.path().join("prefix.parquet");
    run(
        &prefix,
        &["--key", key.to_str().unwrap(), "--keep-prefix", "24"],
    )?;
    let addrs = csv(&[
        "-e",
        "SELECT DISTINCT addr FROM events WHERE addr LIKE '203.0.113.%'",
        "-i",
        prefix.to_str().unwrap(),
    ])?;
    ensure!(
        addrs.len() == 2 && addrs[1][0] != "203.0.113.7",
        "--keep-prefix 24: {addrs:?}"
    );
    Ok(())
}

/// The redaction of a real recording: every report runs on it and gives
/// the same rows but for the names.
fn redact_of_a_recording_runs_every_report() -> TestResult {
    let dir = TempDir::new("redact-real");
    let source = fixture("connections");
    let out = dir.path().join("shared.parquet");
    redact_ok(&source, &out, &[])?;
    let (src, red) = (source.to_str().unwrap(), out.to_str().unwrap());
    for (report, _) in ALL_REPORTS {
        let (a, b) = (csv(&[report, "-i", src])?, csv(&[report, "-i", red])?);
        replaced_one_to_one(&a, &b, |v| {
            v.is_empty() || v.starts_with("127.") || v == "::1" || v == "0.0.0.0" || v == "::"
        })
        .map_err(|e| format!("{report}: {e}"))?;
    }
    let comm = "sockrec-fixture";
    ensure!(
        everything(&source)?.contains(comm) && !everything(&out)?.contains(comm),
        "{comm} is still in the file"
    );
    // Bad input: one line.
    let bad = redact(&source, &out, &[]);
    ensure!(
        util::one_error_line(&bad)?.contains("already exists"),
        "no overwrite"
    );
    let short = dir.path().join("short-key");
    std::fs::write(&short, b"short").unwrap();
    let bad = redact(
        &source,
        &dir.path().join("x.parquet"),
        &["--key", short.to_str().unwrap()],
    );
    ensure!(
        util::one_error_line(&bad)?.contains("at least 16 are needed"),
        "short key accepted"
    );
    ensure!(
        !dir.path().join("x.parquet").exists(),
        "a failed redaction left a file"
    );
    Ok(())
}
