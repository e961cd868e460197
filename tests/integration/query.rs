//! `sockrec query` over the captures in `fixtures/`, recorded by sockrec
//! itself around a scripted workload (`cargo xtask fixtures`).
//!
//! - The reports' numbers are checked against `fixtures/known.toml`, the
//!   workload's own count of what it did, written with the captures.
//! - Every report in every format is compared with its insta snapshot in
//!   `tests/integration/snapshots/`; `cargo insta review` accepts new
//!   output, `INSTA_UPDATE=always` rewrites them all (after
//!   `cargo xtask fixtures`; review the diff).
//! - Bad input — missing, not Parquet, truncated, another schema, a newer
//!   format version, bad SQL — is one `sockrec: ...` line and exit 1.
//!
//! Nothing here needs root: these tests run wherever the analyzer builds.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use crate::{
    ensure,
    util::{self, TempDir, TestResult, Tests},
};

pub const TESTS: Tests = crate::tests![
    list,
    reports_match_workload,
    csv_matches_workload,
    v1_reports_match_workload,
    snapshots,
    several_hosts,
    directory_and_glob,
    relative_paths,
    empty_capture,
    sql_bytes_match_workload,
    name_functions,
    sql_file,
    newest_capture_by_default,
    bad_missing_file,
    bad_not_parquet,
    bad_truncated,
    bad_other_schema,
    bad_column_types,
    bad_newer_version,
    bad_sql,
    bad_cuts_and_flips,
    bad_fuzz_corpus,
    bad_report_name,
    v1_capture_lacks_columns,
    connection_reports_match_workload,
    no_capture_here,
    read_only,
    broken_pipe_is_quiet,
    info_reads_directories,
];

/// When the fixtures are recorded by a v2 recorder (`cargo xtask
/// fixtures`), flip these to `true` (the snapshots then cover them), and
/// give each a `[host-a.REPORT]` section of the workload's own counts in
/// known.toml ([`known_counts`] reads any section by name); what each
/// report's csv is to be checked against:
///
/// - tcplife: one row per TCP session the workload closed, keyed by
///   `lport,rport`, with the `tx_bytes`/`rx_bytes` the workload sent and
///   received on it (both ends: two rows per loopback session);
/// - tcpstates: per session, the client's CLOSE->SYN_SENT->ESTABLISHED...
///   ->CLOSE sequence (count of rows per `newstate`);
/// - tcpretrans: at least one row for the connection whose segments the
///   nftables rule drops (its `lport,rport`), pid = the workload's;
/// - tcpconnect: one row per TCP connect (refused and non-blocking ones
///   included), by `daddr,dport`;
/// - tcpaccept: one row per TCP accept, `bl` = the listener's backlog;
/// - tcpconnlat: one row per connect that reached ESTABLISHED (the
///   non-blocking one included, the refused one not);
/// - solisten: one row per listen, `backlog` as passed;
/// - soaccept: one row per accept with an IP peer, all `Success`;
/// - socketio: per (dir, protocol, port), the workload's message count;
/// - udpconnect: one row per UDP connect (as now, from soprotocol's UDP);
/// - tcptop: summed over intervals, per connection, rx_bytes/tx_bytes =
///   the workload's bytes;
/// - socksize: sum of `count` per map = messages (as now);
/// - soconnlat: sum of `count` = IP connects that returned (non-blocking
///   ones once completed);
/// - so1stbyte: sum of `count` = IP connects that then read data.
///
/// The built-in reports, in `--list` order, and whether a format v1
/// capture (the fixtures) can answer them: the others need the socket
/// identity, both ends and the TCP kinds of format v2.
pub const ALL_REPORTS: [(&str, bool); 18] = [
    ("sockstat", true),
    ("sofamily", true),
    ("soprotocol", true),
    ("soconnect", true),
    ("tcplife", false),
    ("tcpstates", false),
    ("tcpretrans", false),
    ("tcpconnect", false),
    ("tcpaccept", false),
    ("tcpconnlat", false),
    ("solisten", false),
    ("soaccept", true),
    ("socketio", false),
    ("udpconnect", true),
    ("tcptop", false),
    ("socksize", true),
    ("soconnlat", false),
    ("so1stbyte", false),
];

/// The reports the v1 fixtures answer (snapshots, empty capture...).
fn reports() -> impl Iterator<Item = &'static str> {
    ALL_REPORTS.iter().filter(|r| r.1).map(|r| r.0)
}

/// The reports that need a format v2 capture.
fn v2_reports() -> impl Iterator<Item = &'static str> {
    ALL_REPORTS.iter().filter(|r| !r.1).map(|r| r.0)
}
const FORMATS: [&str; 4] = ["tool", "table", "csv", "json"];
/// The fixtures with a workload (`empty` has none).
const WORKLOADS: [&str; 2] = ["host-a", "host-b"];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

pub fn fixture(name: &str) -> PathBuf {
    fixtures().join(format!("{name}.parquet"))
}

/// `sockrec query ARGS...`, which must succeed; its stdout.
pub fn query_ok(args: &[&str]) -> Result<String, String> {
    let out = util::run(util::sockrec().arg("query").args(args));
    let stderr = util::stderr(&out);
    if !out.status.success() || stderr.contains("panicked") {
        return Err(format!(
            "sockrec query {args:?}: {:?}\n{stderr}",
            out.status.code()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `sockrec query ARGS...`, which must fail with one line containing all
/// of `wanted`.
fn query_fails(args: &[&str], wanted: &[&str]) -> TestResult {
    let out = util::run(util::sockrec().arg("query").args(args));
    check_failure(&out, wanted)
}

fn check_failure(out: &Output, wanted: &[&str]) -> TestResult {
    ensure!(
        out.status.code() == Some(1),
        "exit {:?}, stderr {:?}",
        out.status.code(),
        util::stderr(out)
    );
    ensure!(
        out.stdout.is_empty(),
        "stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let line = util::one_error_line(out)?;
    for w in wanted {
        ensure!(line.contains(w), "{line:?} lacks {w:?}");
    }
    Ok(())
}

/// Key (a report line's, as `@connect[comm, 2, AF_INET]`) → count.
type Counts = BTreeMap<String, u64>;

/// One capture's entry in `fixtures/known.toml`: its `[host-a]` table
/// (`file`, `comm` and `pid` are there too, for people) and the counts
/// tables under it (`[host-a.sofamily]`, one per report or SQL check), as
/// `cargo xtask fixtures` writes them. A new report's section needs no
/// field here: [`known_counts`] reads any table of counts by name.
#[derive(Deserialize)]
struct Known {
    host: String,
    events: u64,
    #[serde(flatten)]
    sections: BTreeMap<String, toml::Value>,
}

/// `fixtures/known.toml`: capture (`host-a`) → what its workload did.
fn known() -> Result<BTreeMap<String, Known>, String> {
    let path = fixtures().join("known.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The counts of `[fixture.section]`.
fn known_counts(fixture: &str, section: &str) -> Result<Counts, String> {
    let mut k = known()?
        .remove(fixture)
        .ok_or_else(|| format!("known.toml has no [{fixture}]"))?;
    let table = k
        .sections
        .remove(section)
        .ok_or_else(|| format!("known.toml has no [{fixture}.{section}]"))?;
    table
        .try_into()
        .map_err(|e| format!("known.toml [{fixture}.{section}]: {e}"))
}

pub fn add(map: &mut BTreeMap<String, u64>, key: &str, n: u64) {
    *map.entry(key.to_string()).or_default() += n;
}

/// bpftrace map lines (`@name[keys]: count`) → key → count, summed over
/// the maps printed (sockstat prints one per second). Within one map a key
/// appears once, as in bpftrace.
pub fn map_lines(text: &str) -> Result<BTreeMap<String, u64>, String> {
    let mut out = BTreeMap::new();
    let mut this_map = std::collections::BTreeSet::new();
    for line in text.lines() {
        if !line.starts_with('@') {
            this_map.clear();
            continue;
        }
        let (key, n) = line
            .rsplit_once(": ")
            .ok_or_else(|| format!("bad map line {line:?}"))?;
        let n: u64 = n.parse().map_err(|_| format!("bad count in {line:?}"))?;
        if !this_map.insert(key.to_string()) {
            return Err(format!("key {key} twice in one map:\n{text}"));
        }
        add(&mut out, key, n);
    }
    Ok(out)
}

/// Simple CSV (no quoted commas in our columns) → rows of cells, header
/// first.
pub fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn list() -> TestResult {
    let out = query_ok(&["--list"])?;
    let names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let want: Vec<&str> = ALL_REPORTS.iter().map(|r| r.0).collect();
    ensure!(names == want, "{out}");
    ensure!(
        out.lines().all(|l| l.split_whitespace().count() > 2),
        "every report has a description: {out}"
    );
    Ok(())
}

/// Each report in its tool format says what the workload did.
fn reports_match_workload() -> TestResult {
    for name in WORKLOADS {
        let f = fixture(name);
        let f = f.to_str().unwrap();

        // sockstat: per-second maps; summed over the seconds, the calls.
        let out = query_ok(&["sockstat", "-i", f])?;
        let got = map_lines(&out)?;
        let want: BTreeMap<String, u64> = known_counts(name, "sockstat")?
            .into_iter()
            .map(|(k, v)| (format!("@[{k}]"), v))
            .collect();
        ensure!(
            got == want,
            "{name} sockstat: got {got:?}, want {want:?}\n{out}"
        );
        ensure!(
            out.lines().nth(1).is_some_and(is_time_line),
            "{name} sockstat: no time line after the header:\n{out}"
        );

        for report in ["sofamily", "soprotocol"] {
            let out = query_ok(&[report, "-i", f])?;
            let got = map_lines(&out)?;
            let want = known_counts(name, report)?;
            ensure!(
                got == want,
                "{name} {report}: got {got:?}, want {want:?}\n{out}"
            );
        }

        // soconnect: one line per IP connect, RESULT in words.
        let out = query_ok(&["soconnect", "-i", f])?;
        let mut lines = out.lines();
        let header = lines.next().unwrap_or_default();
        ensure!(
            header.split_whitespace().collect::<Vec<_>>()
                == [
                    "PID", "PROCESS", "FAM", "ADDRESS", "PORT", "LAT(us)", "RESULT"
                ],
            "{header:?}"
        );
        let result_at = header.find("RESULT").unwrap();
        let mut got = BTreeMap::new();
        for line in lines {
            add(&mut got, line.get(result_at..).unwrap_or_default(), 1);
        }
        let want = known_counts(name, "soconnect")?;
        ensure!(
            got == want,
            "{name} soconnect: got {got:?}, want {want:?}\n{out}"
        );
    }
    Ok(())
}

/// soaccept, udpconnect and socksize, on what the v1 fixtures' workload
/// counted for the other reports: udpconnect lists soprotocol's UDP
/// connects; socksize's buckets hold every message (they all succeed).
fn v1_reports_match_workload() -> TestResult {
    for name in WORKLOADS {
        let f = fixture(name);
        let f = f.to_str().unwrap();
        let out = query_ok(&["udpconnect", "-i", f, "--format", "csv"])?;
        let rows = out.lines().count() as u64 - 1;
        let want: u64 = known_counts(name, "soprotocol")?
            .iter()
            .filter(|(k, _)| k.starts_with("@connect[") && k.ends_with(", UDP]"))
            .map(|(_, n)| n)
            .sum();
        ensure!(
            rows == want,
            "{name} udpconnect: {rows} rows, want {want}\n{out}"
        );

        let out = query_ok(&["socksize", "-i", f, "--format", "csv"])?;
        let rows = csv_rows(&out);
        ensure!(
            rows[0] == ["map", "host", "comm", "low", "high", "count"],
            "{out}"
        );
        let mut got = BTreeMap::new();
        for r in &rows[1..] {
            let n: u64 = r[5].parse().map_err(|_| format!("{r:?}"))?;
            add(&mut got, &r[0], n);
        }
        let calls = known_counts(name, "sockstat")?;
        let want = BTreeMap::from([
            ("read_bytes".to_string(), calls["kprobe:sock_recvmsg"]),
            ("write_bytes".to_string(), calls["kprobe:sock_sendmsg"]),
        ]);
        ensure!(got == want, "{name} socksize: got {got:?}, want {want:?}");

        // soaccept: every line an IP peer and a success.
        let out = query_ok(&["soaccept", "-i", f])?;
        ensure!(
            out.lines().skip(1).all(|l| l.ends_with(" Success")),
            "{name} soaccept:\n{out}"
        );
    }
    Ok(())
}

fn is_time_line(l: &str) -> bool {
    let b = l.as_bytes();
    l.len() == 8
        && b[2] == b':'
        && b[5] == b':'
        && l.replace(':', "").bytes().all(|c| c.is_ascii_digit())
}

/// The CSV of the map reports has the same numbers, in columns.
fn csv_matches_workload() -> TestResult {
    for name in WORKLOADS {
        let f = fixture(name);
        let f = f.to_str().unwrap();
        for report in ["sofamily", "soprotocol"] {
            let out = query_ok(&[report, "-i", f, "--format", "csv"])?;
            let rows = csv_rows(&out);
            let (header, rows) = rows.split_first().ok_or("no header")?;
            ensure!(
                header.first().map(String::as_str) == Some("map"),
                "{header:?}"
            );
            ensure!(
                header.last().map(String::as_str) == Some("count"),
                "{header:?}"
            );
            let mut got = BTreeMap::new();
            for r in rows {
                let keys = r[1..r.len() - 1].join(", ");
                let n: u64 = r.last().unwrap().parse().map_err(|_| format!("{r:?}"))?;
                add(&mut got, &format!("@{}[{keys}]", r[0]), n);
            }
            let want = known_counts(name, report)?;
            ensure!(
                got == want,
                "{name} {report} csv: got {got:?}, want {want:?}"
            );
        }
    }
    Ok(())
}

/// Every report in every format, over host-a, as in its insta snapshot
/// (`tests/integration/snapshots/REPORT.FORMAT.snap`). Every difference is
/// shown (insta's diff) before the test fails; outside CI insta leaves the
/// new output beside the snapshot (`.snap.new`) for `cargo insta review`,
/// under CI (`CI` set) it writes nothing. `INSTA_UPDATE=always` rewrites
/// the snapshots (after `cargo xtask fixtures`: review the diff).
fn snapshots() -> TestResult {
    let mut settings = insta::Settings::clone_current();
    // `sockstat.tool.snap`, not `integration__query__sockstat.tool.snap`.
    settings.set_prepend_module_to_snapshot(false);
    let mut failures = Vec::new();
    // The reports of format 1 over host-a, those of format 2 over the
    // connections fixture.
    let all = reports()
        .map(|r| (r, "host-a"))
        .chain(v2_reports().map(|r| (r, "connections")));
    for (report, fixture_name) in all {
        let f = fixture(fixture_name);
        for format in FORMATS {
            let out = query_ok(&[report, "-i", f.to_str().unwrap(), "--format", format])?;
            let name = format!("{report}.{format}");
            settings.set_description(format!(
                "sockrec query {report} -i fixtures/{fixture_name}.parquet --format {format}"
            ));
            // insta panics at a difference: caught, so that one run shows
            // (and, outside CI, writes) every new output.
            let matched = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                settings.bind(|| insta::assert_snapshot!(name.as_str(), out.as_str()))
            }));
            if matched.is_err() {
                failures.push(format!("{name}: differs from its snapshot (diff above)"));
            }
            // bpftrace prints an empty line after each map.
            let end = if format == "tool"
                && [
                    "sockstat",
                    "sofamily",
                    "soprotocol",
                    "socksize",
                    "soconnlat",
                    "so1stbyte",
                    "socketio",
                ]
                .contains(&report)
            {
                "\n\n"
            } else {
                "\n"
            };
            if let Err(e) = check_what_insta_forgives(&out, end) {
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    ensure!(
        failures.is_empty(),
        "{}\n(`cargo insta review`, or INSTA_UPDATE=always, to accept new output)",
        failures.join("\n")
    );
    Ok(())
}

/// What insta's comparison forgives, checked here, so that a report is held
/// to its snapshot byte for byte: insta 1.49 (src/snapshot.rs) compares text
/// without its trailing whitespace, reads `\r\n` as `\n` (`normalize`) and
/// takes leading newlines for an older format (`matches_legacy`). The
/// report must end exactly in `end` and hold no `\r` nor leading newline.
fn check_what_insta_forgives(out: &str, end: &str) -> TestResult {
    let trailing = &out[out.trim_end().len()..];
    ensure!(trailing == end, "ends in {trailing:?}, want {end:?}");
    ensure!(!out.contains('\r'), "has a \\r: {out:?}");
    ensure!(!out.starts_with('\n'), "starts with an empty line: {out:?}");
    Ok(())
}

/// Two hosts' captures together: counts add up, `host` tells them apart.
fn several_hosts() -> TestResult {
    let a = fixture("host-a");
    let b = fixture("host-b");
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let out = query_ok(&["sofamily", "-i", a, "-i", b])?;
    let got = map_lines(&out)?;
    let mut want = known_counts("host-a", "sofamily")?;
    for (k, v) in known_counts("host-b", "sofamily")? {
        add(&mut want, &k, v);
    }
    ensure!(got == want, "got {got:?}, want {want:?}");

    let out = query_ok(&[
        "-e",
        "SELECT host, count(*) AS n FROM events GROUP BY host ORDER BY host",
        "-i",
        a,
        "-i",
        b,
        "--format",
        "csv",
    ])?;
    let k = known()?;
    let want = format!(
        "host,n\n{},{}\n{},{}\n",
        k["host-a"].host, k["host-a"].events, k["host-b"].host, k["host-b"].events
    );
    ensure!(out == want, "got {out:?}, want {want:?}");

    // soconnect names the host when there are several (PIDs are per host).
    let out = query_ok(&["soconnect", "-i", a, "-i", b])?;
    ensure!(out.starts_with("HOST "), "{out}");
    let rows = out.lines().skip(1).count() as u64;
    let want: u64 = ["host-a", "host-b"]
        .iter()
        .map(|n| known_counts(n, "soconnect").map(|c| c.values().sum::<u64>()))
        .sum::<Result<u64, String>>()?;
    ensure!(rows == want, "{rows} soconnect lines, want {want}:\n{out}");

    // The same file twice is read once.
    let out = query_ok(&[
        "-e",
        "SELECT count(*) AS n FROM events",
        "-i",
        a,
        "-i",
        a,
        "--format",
        "csv",
    ])?;
    ensure!(out == format!("n\n{}\n", k["host-a"].events), "{out:?}");
    Ok(())
}

/// A directory reads its *.parquet files; a quoted glob is expanded; the
/// `capture` column names the file.
fn directory_and_glob() -> TestResult {
    let k = known()?;
    // Format 1 and 2 captures together; `events` counts calls and messages.
    let total: u64 = ["host-a", "host-b", "empty", "connections"]
        .iter()
        .map(|n| k[*n].events)
        .sum();
    let dir = fixtures();
    let sql = "SELECT count(*) AS n, count(DISTINCT host) AS hosts FROM events \
               WHERE kind NOT IN ('tcp_state', 'tcp_retransmit')";
    let out = query_ok(&["-e", sql, "-i", dir.to_str().unwrap(), "--format", "csv"])?;
    ensure!(out == format!("n,hosts\n{total},3\n"), "{out:?}");

    let pattern = format!("{}/host-*.parquet", dir.display());
    let sql = "SELECT capture, count(*) AS n FROM events GROUP BY capture ORDER BY capture";
    let out = query_ok(&["-e", sql, "-i", &pattern, "--format", "csv"])?;
    let want = format!(
        "capture,n\n{},{}\n{},{}\n",
        fixture("host-a").display(),
        k["host-a"].events,
        fixture("host-b").display(),
        k["host-b"].events
    );
    ensure!(out == want, "got {out:?}, want {want:?}");

    let pattern = format!("{}/nothing-*.parquet", dir.display());
    query_fails(
        &["sofamily", "-i", &pattern],
        &["nothing-*.parquet", "no file matches"],
    )
}

/// Captures named relative to the current directory, `..` included (a
/// postmortem's `sockrec query sofamily -i ../host-a.parquet`), as a file,
/// a directory and a glob; the `capture` column keeps the name as given.
fn relative_paths() -> TestResult {
    let dir = TempDir::new("query-relative");
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    std::fs::copy(fixture("host-a"), dir.path().join("host-a.parquet")).unwrap();
    let events = known()?["host-a"].events;
    let sql = "SELECT capture, count(*) AS n FROM events GROUP BY capture";
    for input in ["../host-a.parquet", "..", "../host-*.parquet"] {
        let out = util::run(
            util::sockrec()
                .current_dir(&work)
                .args(["query", "-e", sql, "-i", input, "--format", "csv"]),
        );
        ensure!(out.status.success(), "-i {input}: {}", util::stderr(&out));
        let got = String::from_utf8_lossy(&out.stdout);
        let want = format!("capture,n\n../host-a.parquet,{events}\n");
        ensure!(got == want, "-i {input}: got {got:?}, want {want:?}");
    }
    Ok(())
}

/// A capture with no rows: each report prints its header and nothing else.
fn empty_capture() -> TestResult {
    let f = fixture("empty");
    let f = f.to_str().unwrap();
    ensure!(known()?["empty"].events == 0, "empty.parquet has events");
    for report in reports() {
        let out = query_ok(&[report, "-i", f])?;
        // socksize's original prints no header, only its maps.
        let header = usize::from(report != "socksize");
        ensure!(
            !out.lines().any(|l| l.starts_with('@'))
                && out.lines().filter(|l| !l.is_empty()).count() == header,
            "{report} printed more than its header:\n{out}"
        );
        let out = query_ok(&[report, "-i", f, "--format", "csv"])?;
        ensure!(out.lines().count() == 1, "{report} csv: {out:?}");
        let out = query_ok(&[report, "-i", f, "--format", "json"])?;
        ensure!(out.trim() == "[]", "{report} json: {out:?}");
    }
    Ok(())
}

/// Ad hoc SQL: bytes sent and received, as the workload counted them.
fn sql_bytes_match_workload() -> TestResult {
    for name in WORKLOADS {
        let f = fixture(name);
        let sql = "SELECT kind, sum(bytes) AS bytes FROM events \
                   WHERE kind IN ('send', 'recv') GROUP BY kind ORDER BY kind";
        let out = query_ok(&["-e", sql, "-i", f.to_str().unwrap(), "--format", "csv"])?;
        let want = known_counts(name, "bytes")?;
        let want = format!("kind,bytes\nrecv,{}\nsend,{}\n", want["recv"], want["send"]);
        ensure!(out == want, "{name}: got {out:?}, want {want:?}");
    }
    Ok(())
}

fn name_functions() -> TestResult {
    let sql = "SELECT af_name(10) AS a, sock_type_name(2) AS b, proto_name(6) AS c, \
               proto_short(1, 0) AS d, proto_short(17) AS e, errno_name(111) AS f, \
               errno_message(111) AS g, errno_message(0) AS h, errno_message(133) AS i, \
               errno_message(4095) AS j, af_name(NULL) AS k, errno_name(-1) AS l";
    let f = fixture("host-a");
    let out = query_ok(&["-e", sql, "-i", f.to_str().unwrap(), "--format", "csv"])?;
    let want = "a,b,c,d,e,f,g,h,i,j,k,l\n\
                AF_INET6,SOCK_DGRAM,IPPROTO_TCP,UNIX,UDP,ECONNREFUSED,Connection refused,\
                Success,Memory page has hardware error,Unknown error 4095,,\n";
    ensure!(out == want, "got {out:?}, want {want:?}");

    // An argument that is a scalar for a whole batch (coalesce over a
    // batch whose errno is all NULL) is one value for every row.
    let sql = "SELECT errno_message(coalesce(errno, 0)) AS m, count(*) AS n FROM events \
               WHERE kind = 'send' GROUP BY m";
    let out = query_ok(&["-e", sql, "-i", f.to_str().unwrap(), "--format", "csv"])?;
    let sends = known_counts("host-a", "sockstat")?["kprobe:sock_sendmsg"];
    ensure!(out == format!("m,n\nSuccess,{sends}\n"), "{out:?}");

    // On the capture's own columns (UInt16, Int32).
    let sql = "SELECT errno_name(errno) AS e, count(*) AS n FROM events \
               WHERE kind = 'connect' AND errno IS NOT NULL GROUP BY e";
    let out = query_ok(&["-e", sql, "-i", f.to_str().unwrap(), "--format", "csv"])?;
    let refused = known_counts("host-a", "soconnect")?["Connection refused"];
    ensure!(out == format!("e,n\nECONNREFUSED,{refused}\n"), "{out:?}");
    Ok(())
}

/// A path runs that file, in a table by default.
fn sql_file() -> TestResult {
    let dir = TempDir::new("query-file");
    let file = dir.path().join("kinds.sql");
    std::fs::write(
        &file,
        "-- events per kind\nSELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY kind;\n",
    )
    .unwrap();
    let f = fixture("host-a");
    let out = query_ok(&[file.to_str().unwrap(), "-i", f.to_str().unwrap()])?;
    ensure!(
        out.starts_with("+--") && out.contains("| kind ") && out.contains("| connect "),
        "{out}"
    );
    query_fails(
        &[
            file.to_str().unwrap(),
            "-i",
            f.to_str().unwrap(),
            "--format",
            "tool",
        ],
        &["--format tool", "built-in"],
    )
}

/// tcplife over the connections fixture lists both ends of every TCP
/// session its workload made (`[connections.tcplife]` in known.toml: the
/// ports and the bytes each end wrote and read, from the workload), owned
/// by the workload, with the kernel's byte counts, which count the SYN and
/// FIN too: up to 2 more sent, 1 more received; and its refused connect.
fn connection_reports_match_workload() -> TestResult {
    let k = &known()?["connections"];
    let workload_pid = k
        .sections
        .get("pid")
        .and_then(toml::Value::as_integer)
        .ok_or("known.toml: [connections] has no pid")?;
    let workload_comm = k
        .sections
        .get("comm")
        .and_then(toml::Value::as_str)
        .ok_or("known.toml: [connections] has no comm")?;
    let want = known_counts("connections", "tcplife")?;
    let f = fixture("connections");
    let out = query_ok(&["tcplife", "-i", f.to_str().unwrap(), "--format", "csv"])?;
    let rows = csv_rows(&out);
    let (header, rows) = rows.split_first().ok_or("no header")?;
    let at = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or(format!("no {name}"))
    };
    let (pid, comm, lport, rport, tx, rx) = (
        at("pid")?,
        at("comm")?,
        at("lport")?,
        at("rport")?,
        at("tx_bytes")?,
        at("rx_bytes")?,
    );
    // A refused connect is a session too (SYN_SENT to CLOSE), as in the
    // original: nothing sent or received, to port 1.
    let refused = known_counts("connections", "soconnect")?
        .get("Connection refused")
        .copied()
        .unwrap_or(0) as usize;
    let (to_port_1, rows): (Vec<_>, Vec<_>) = rows.iter().partition(|r| r[rport] == "1");
    ensure!(
        to_port_1.len() == refused && to_port_1.iter().all(|r| r[tx] == "0" && r[rx] == "0"),
        "tcplife's refused connects {to_port_1:?}, want {refused} with no bytes"
    );
    ensure!(
        rows.len() * 2 == want.len(),
        "tcplife lists {} ends, the workload made {}:\n{out}",
        rows.len(),
        want.len() / 2
    );
    for r in rows {
        let end = format!("{}->{}", r[lport], r[rport]);
        let (Some(&t), Some(&x)) = (
            want.get(&format!("{end} tx")),
            want.get(&format!("{end} rx")),
        ) else {
            return Err(format!(
                "tcplife lists {end}, which the workload did not make"
            ));
        };
        let (got_t, got_x): (u64, u64) = (r[tx].parse().unwrap_or(0), r[rx].parse().unwrap_or(0));
        ensure!(
            (t..=t + 2).contains(&got_t) && (x..=x + 1).contains(&got_x),
            "{end}: tx {got_t} rx {got_x}, the workload {t} and {x}"
        );
        ensure!(
            r[pid] == workload_pid.to_string() && r[comm] == workload_comm,
            "{end} is not the workload's: {r:?}"
        );
    }
    Ok(())
}

/// A report that needs format v2's columns, run on a v1 capture: one line
/// naming the report, the capture and the missing column, exit 1. The same
/// capture with a v2 capture still fails (every capture must have them).
fn v1_capture_lacks_columns() -> TestResult {
    let f = fixture("host-a");
    let f = f.to_str().unwrap();
    for report in v2_reports() {
        query_fails(
            &[report, "-i", f],
            &[report, "host-a.parquet", "has no column", "version 1"],
        )?;
        query_fails(
            &[report, "-i", f, "--format", "csv"],
            &[report, "has no column"],
        )?;
    }
    Ok(())
}

/// Without -i: the newest *.parquet of the current directory, named on
/// stderr.
fn newest_capture_by_default() -> TestResult {
    let dir = TempDir::new("query-newest");
    let old = dir.path().join("old.parquet");
    let new = dir.path().join("new.parquet");
    std::fs::copy(fixture("host-b"), &old).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::copy(fixture("host-a"), &new).unwrap();
    let out = util::run(util::sockrec().current_dir(dir.path()).args([
        "query",
        "-e",
        "SELECT DISTINCT host FROM events",
        "--format",
        "csv",
    ]));
    ensure!(out.status.success(), "{}", util::stderr(&out));
    let host = &known()?["host-a"].host;
    ensure!(
        String::from_utf8_lossy(&out.stdout) == format!("host\n{host}\n"),
        "{out:?}"
    );
    ensure!(
        util::stderr(&out).contains("new.parquet"),
        "{}",
        util::stderr(&out)
    );
    Ok(())
}

fn bad_missing_file() -> TestResult {
    query_fails(
        &["sofamily", "-i", "/nonexistent/capture.parquet"],
        &["/nonexistent/capture.parquet", "no such file"],
    )
}

fn bad_not_parquet() -> TestResult {
    let dir = TempDir::new("query-junk");
    let f = dir.path().join("junk.parquet");
    std::fs::write(&f, b"this is not a parquet file at all").unwrap();
    query_fails(
        &["sofamily", "-i", f.to_str().unwrap()],
        &["junk.parquet", "not a Parquet file"],
    )
}

fn bad_truncated() -> TestResult {
    let dir = TempDir::new("query-truncated");
    let f = dir.path().join("cut.parquet");
    let bytes = std::fs::read(fixture("host-a")).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() * 2 / 3]).unwrap();
    query_fails(
        &["sofamily", "-i", f.to_str().unwrap()],
        &["cut.parquet", "damaged Parquet file"],
    )
}

/// Parquet, but not a capture: no sockrec metadata.
fn bad_other_schema() -> TestResult {
    let dir = TempDir::new("query-other");
    let f = dir.path().join("other.parquet");
    let batch = arrow_array::RecordBatch::try_from_iter([(
        "a",
        Arc::new(arrow_array::Int32Array::from(vec![1, 2])) as arrow_array::ArrayRef,
    )])
    .unwrap();
    write_parquet(&f, &[batch], &[]);
    query_fails(
        &["sofamily", "-i", f.to_str().unwrap()],
        &["other.parquet", "not a sockrec capture"],
    )
}

/// sockrec's metadata on other columns: says which column is wrong.
fn bad_column_types() -> TestResult {
    let dir = TempDir::new("query-types");
    let f = dir.path().join("types.parquet");
    let batch = arrow_array::RecordBatch::try_from_iter([(
        "time",
        Arc::new(arrow_array::Int32Array::from(vec![1, 2])) as arrow_array::ArrayRef,
    )])
    .unwrap();
    write_parquet(&f, &[batch], &[("sockrec.format_version", "1")]);
    query_fails(
        &["sofamily", "-i", f.to_str().unwrap()],
        &["types.parquet", "not a sockrec capture", "\"time\""],
    )
}

/// host-a's rows, rewritten as the format version after this sockrec's.
fn bad_newer_version() -> TestResult {
    let newer = (sockrec_capture::FORMAT_VERSION + 1).to_string();
    let dir = TempDir::new("query-newer");
    let f = dir.path().join("newer.parquet");
    let file = std::fs::File::open(fixture("host-a")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    write_parquet(&f, &batches, &[("sockrec.format_version", &newer)]);
    query_fails(
        &["sofamily", "-i", f.to_str().unwrap()],
        &[
            "newer.parquet",
            &format!("capture format version {newer} is newer"),
        ],
    )
}

pub fn write_parquet(path: &Path, batches: &[arrow_array::RecordBatch], meta: &[(&str, &str)]) {
    use parquet::file::metadata::KeyValue;
    let kv = meta
        .iter()
        .map(|(k, v)| KeyValue::new(k.to_string(), v.to_string()))
        .collect();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_key_value_metadata(Some(kv))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(file, batches[0].schema(), Some(props)).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

fn bad_sql() -> TestResult {
    let f = fixture("host-a");
    let f = f.to_str().unwrap();
    query_fails(
        &["-e", "SELEC kind FROM events", "-i", f],
        &["-e: sql parser error", "SELEC"],
    )?;
    query_fails(&["-e", "SELECT nope FROM events", "-i", f], &["nope"])?;
    query_fails(&["-e", "SELECT * FROM other", "-i", f], &["other"])
}

fn bad_report_name() -> TestResult {
    let f = fixture("host-a");
    query_fails(
        &["sofamly", "-i", f.to_str().unwrap()],
        &["sofamly", "no such file", "sofamily"],
    )
}

fn no_capture_here() -> TestResult {
    let dir = TempDir::new("query-none");
    let out = util::run(
        util::sockrec()
            .current_dir(dir.path())
            .args(["query", "sofamily"]),
    );
    check_failure(&out, &["no capture given", "-i"])
}

/// Queries can't write: no COPY, CREATE or INSERT.
fn read_only() -> TestResult {
    let dir = TempDir::new("query-ro");
    let target = dir.path().join("out.csv");
    let f = fixture("host-a");
    let copy = format!("COPY (SELECT 1) TO '{}'", target.display());
    query_fails(
        &["-e", &copy, "-i", f.to_str().unwrap()],
        &["not supported"],
    )?;
    ensure!(!target.exists(), "COPY wrote {}", target.display());
    query_fails(
        &[
            "-e",
            "CREATE TABLE t AS SELECT 1",
            "-i",
            f.to_str().unwrap(),
        ],
        &["not supported"],
    )
}

/// `sockrec query ... | head`: no error when the reader goes away.
fn broken_pipe_is_quiet() -> TestResult {
    use std::io::{BufRead as _, BufReader};
    use std::process::Stdio;
    let f = fixture("host-a");
    // ~10k rows of everything: far more than a pipe buffer.
    let mut child = util::sockrec()
        .args([
            "query",
            "-e",
            "SELECT * FROM events a CROSS JOIN events b",
            "--format",
            "csv",
            "-i",
        ])
        .arg(&f)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sockrec");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here: the pipe closes.
    let out = child.wait_with_output().unwrap();
    ensure!(first.starts_with("time,"), "{first:?}");
    ensure!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        util::stderr(&out)
    );
    ensure!(out.stderr.is_empty(), "{}", util::stderr(&out));
    Ok(())
}

/// `sockrec info` takes directories (and globs) as `query -i` does.
fn info_reads_directories() -> TestResult {
    let out = util::run(util::sockrec().arg("info").arg(fixtures()));
    ensure!(out.status.success(), "{}", util::stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for name in ["empty", "host-a", "host-b"] {
        ensure!(
            text.contains(&format!("{name}.parquet")),
            "no {name}: {text}"
        );
    }
    Ok(())
}

/// What `sockrec info` and `sockrec query` make of `bytes` as a capture:
/// success, or one `sockrec:` line and exit 1; never a panic ("internal
/// error"), a hang or stray output on stderr.
fn survives(dir: &Path, name: &str, bytes: &[u8]) -> TestResult {
    let f = dir.join(name);
    std::fs::write(&f, bytes).unwrap();
    for args in [
        vec!["info"],
        vec!["query", "sofamily", "-i"],
        vec!["query", "soconnect", "--format", "csv", "-i"],
    ] {
        let out = util::run(util::sockrec().args(&args).arg(&f));
        let err = util::stderr(&out);
        ensure!(!err.contains("internal error"), "{name}: {args:?}: {err}");
        match out.status.code() {
            Some(0) => ensure!(err.is_empty(), "{name}: {args:?}: {err}"),
            Some(1) => {
                util::one_error_line(&out).map_err(|e| format!("{name}: {args:?}: {e}"))?;
            }
            code => return Err(format!("{name}: {args:?}: exit {code:?}: {err}")),
        }
    }
    Ok(())
}

/// A fixture cut at 8 places and with 40 single bits flipped (a fixed
/// sequence), and with a footer that claims 4 GiB: each read fails with one
/// line or succeeds, never panics or hangs.
fn bad_cuts_and_flips() -> TestResult {
    let dir = TempDir::new("query-cuts");
    let bytes = std::fs::read(fixture("host-a")).unwrap();
    let n = bytes.len();
    for cut in [1, 4, 8, n / 4, n / 2, n - 12, n - 8, n - 1] {
        survives(dir.path(), &format!("cut-{cut}"), &bytes[..cut])?;
    }
    // A linear congruential sequence (Knuth's MMIX constants): the same
    // 40 bits every run.
    let mut x: u64 = 0x50c4_7ec0;
    for i in 0..40 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let bit = (x >> 33) as usize % (n * 8);
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        survives(dir.path(), &format!("flip-{i}-bit-{bit}"), &flipped)?;
    }
    // The footer length (the 4 bytes before the closing PAR1): 4 GiB - 1.
    let mut huge = bytes.clone();
    huge[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
    survives(dir.path(), "footer-4gib", &huge)?;
    let out = util::run(
        util::sockrec()
            .arg("info")
            .arg(dir.path().join("footer-4gib")),
    );
    check_failure(&out, &["damaged Parquet file"])
}

/// The inputs the fuzz target found that once made sockrec panic
/// (`capture/fuzz/corpus/capture_reader`, see `cargo xtask fuzz`).
fn bad_fuzz_corpus() -> TestResult {
    let dir = TempDir::new("query-corpus");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("capture/fuzz/corpus/capture_reader");
    let mut n = 0;
    for entry in std::fs::read_dir(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        survives(dir.path(), &name, &std::fs::read(&path).unwrap())?;
        n += 1;
    }
    ensure!(n >= 3, "only {n} inputs in {}", corpus.display());
    Ok(())
}
