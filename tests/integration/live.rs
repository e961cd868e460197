//! Privileged tests of the live reports (`sockrec record --report`): what
//! was printed while recording is what `sockrec query` says of the capture
//! just written.

use std::{collections::BTreeMap, fs::File, process::Stdio, time::Duration};

use serde_json::Value;
use sockrec_devkit::Recorder;

use crate::{
    capture, ensure, query,
    record::{ThreadStop, text, workload},
    util::{self, TempDir, TestResult, Tests},
    workload::Expected,
};

pub const TESTS: Tests = crate::tests![
    every_report_live_is_what_query_says,
    a_stalled_report_falls_behind_without_loss,
    watch_prints_and_keeps_no_capture,
];

/// The reports printed per interval: their counts are compared summed
/// per key, as an event that reached the live report after its interval
/// was printed is counted in the next printing.
const INTERVAL_REPORTS: &[&str] = &["sockstat", "tcptop"];

/// Every built-in report at once, live in JSON (one object per line, each
/// tagged with its report), over the known workload: each report's rows
/// are the rows `sockrec query REPORT --format json` gives over the
/// capture (event and summary reports: the same rows; interval reports:
/// the same counts per key, summed over the printings).
fn every_report_live_is_what_query_says() -> TestResult {
    let list = query::query_ok(&["--list"])?;
    let names: Vec<&str> = list.lines().filter_map(|l| l.split(' ').next()).collect();
    ensure!(names.len() >= 18, "--list: {list}");
    let dir = TempDir::new("live");
    let out = dir.path().join("live.parquet");
    let printed = dir.path().join("live.json");
    let mut wl = workload("known", dir.path())?;
    let mut cmd = util::sockrec();
    cmd.arg("record")
        .args(["-o", out.to_str().unwrap(), "-d", "60s"])
        .args(["-p", &wl.pid().to_string()])
        .args(["--report", &names.join(","), "--format", "json"])
        .stdout(Stdio::from(
            File::create(&printed).map_err(|e| e.to_string())?,
        ));
    let rec = Recorder::start(&mut cmd, Duration::from_secs(60)).map_err(text)?;
    wl.go().map_err(text)?;
    wl.read_until("done").map_err(text)?;
    // Past a printing of every report, so the live path is not only the
    // end's (the last events are then printed at the end).
    std::thread::sleep(Duration::from_millis(1500));
    let stopped = rec.stop(libc::SIGINT).map_err(text)?;
    let err = stopped.stderr_text();
    ensure!(stopped.success(), "sockrec record --report failed: {err}");
    ensure!(
        err.contains("lost 0"),
        "summary line should say lost 0: {err}"
    );
    ensure!(!err.contains("fell behind"), "reports fell behind: {err}");

    let text = std::fs::read_to_string(&printed).map_err(|e| e.to_string())?;
    let mut live: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for line in text.lines() {
        let mut row: serde_json::Map<String, Value> =
            serde_json::from_str(line).map_err(|e| format!("{e}: {line:?}"))?;
        let Some(Value::String(report)) = row.remove("report") else {
            return Err(format!("a live row without its report: {line:?}"));
        };
        live.entry(report).or_default().push(Value::Object(row));
    }
    let capture = out.to_str().unwrap();
    let mut compared = 0;
    for name in &names {
        let queried = query::query_ok(&[name, "-i", capture, "--format", "json"])?;
        let queried: Vec<Value> = serde_json::from_str(&queried).map_err(|e| e.to_string())?;
        let printed = live.remove(*name).unwrap_or_default();
        if INTERVAL_REPORTS.contains(name) {
            ensure!(
                summed(&printed) == summed(&queried),
                "{name}: live counts {:?}, the capture's {:?}",
                summed(&printed),
                summed(&queried)
            );
        } else {
            let (mut a, mut b) = (texts(&printed), texts(&queried));
            a.sort();
            b.sort();
            ensure!(a == b, "{name}: printed live {a:#?}\nthe capture's {b:#?}");
        }
        compared += usize::from(!queried.is_empty());
    }
    ensure!(live.is_empty(), "rows of unknown reports: {live:?}");
    // The known workload gives every report something to say, but for
    // tcpretrans (no retransmit without a dropping rule).
    ensure!(
        compared + 1 >= names.len(),
        "only {compared} reports had rows"
    );
    Ok(())
}

fn texts(rows: &[Value]) -> Vec<String> {
    rows.iter().map(Value::to_string).collect()
}

/// Interval rows, their counts (`count`, `*_bytes`) summed per the other
/// columns (the interval's time among them); rounded values (`*_kb`) left
/// out, as they don't add up.
fn summed(rows: &[Value]) -> BTreeMap<String, u64> {
    let mut sums = BTreeMap::new();
    for row in rows {
        let Value::Object(row) = row else { continue };
        let counts = |k: &str| k == "count" || k.ends_with("_bytes");
        let key: Vec<String> = row
            .iter()
            .filter(|(k, _)| !counts(k) && !k.ends_with("_kb"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for (k, v) in row.iter().filter(|(k, _)| counts(k)) {
            let n = v.as_u64().unwrap_or(u64::MAX);
            *sums.entry(format!("{} {k}", key.join(" "))).or_default() += n;
        }
    }
    sums
}

/// The slowest report there is, one that does not run at all (its thread
/// held stopped), reading every column of every event under a busy UDP
/// loop: the recorder loses nothing, its memory stays bounded (the live
/// queue, not the events), the capture has every message, and the report,
/// once it runs again, says how many events it did not see: exactly those
/// its printed counts lack.
fn a_stalled_report_falls_behind_without_loss() -> TestResult {
    const PAIRS: u64 = 150_000;
    let dir = TempDir::new("live-stalled");
    let out = dir.path().join("stalled.parquet");
    let printed = dir.path().join("every-column.json");
    // Events per second, from every column (300,000 rows of all of them
    // are ~54 MB: more than the live queue holds).
    let sql = dir.path().join("every-column.sql");
    std::fs::write(
        &sql,
        "-- every-column: events per second, read whole\n\
         -- live: interval\n\
         SELECT date_trunc('second', time) AS second, count(*) AS count FROM events\n\
         WHERE length(concat_ws('|', time, time_ns, host, kind, probe, in_flight, cpu, pid,\n\
             tid, uid, comm, cgroup_id, fd, fd2, ret, errno, latency_ns, family, sock_type,\n\
             protocol, call_flags, addr_family, addr, port, bytes, inode, sock, laddr,\n\
             lport, raddr, rport, old_state, state, backlog, tx_bytes, rx_bytes)) > 0\n\
         GROUP BY 1 ORDER BY 1\n",
    )
    .map_err(|e| e.to_string())?;
    let mut wl = workload(&format!("udp-count {PAIRS}"), dir.path())?;
    let mut cmd = util::sockrec();
    cmd.arg("record")
        .args(["-o", out.to_str().unwrap(), "-p", &wl.pid().to_string()])
        .args(["--events", "send,recv", "--report", sql.to_str().unwrap()])
        // A ring that holds every message: the guests' emulated CPUs
        // (QEMU TCG, one host thread) can leave the whole recorder
        // behind a busy loop, whatever the report does. A report that
        // held the writer up would still show: it would never fall
        // behind (checked below).
        .args(["--buffer-mib", "64", "--format", "json"])
        .stdout(Stdio::from(
            File::create(&printed).map_err(|e| e.to_string())?,
        ));
    let rec = Recorder::start(&mut cmd, Duration::from_secs(60)).map_err(text)?;
    let before_kib = rec.rss_kib().map_err(text)?;
    let stalled = ThreadStop::new(rec.thread("sockrec-live").map_err(text)?)?;
    wl.go().map_err(text)?;
    let did = wl.read_until(&format!("did {PAIRS}")).map_err(text)?;
    ensure!(did.is_empty(), "workload said {did:?}");
    // The writer has handed over every message by now (at least every
    // 250 ms): the live queue is as full as it gets.
    std::thread::sleep(Duration::from_millis(800));
    let held_mib = rec.rss_kib().map_err(text)?.saturating_sub(before_kib) / 1024;
    stalled.resume()?;
    // One tick of the report's, to say it fell behind while recording.
    std::thread::sleep(Duration::from_millis(1500));
    let stopped = rec.stop(libc::SIGTERM).map_err(text)?;
    let err = stopped.stderr_text();
    ensure!(stopped.success(), "sockrec record failed: {err}");
    ensure!(
        err.contains("lost 0 "),
        "a stalled report cost events: {err}"
    );
    // 300,000 events of ~180 bytes in Arrow are ~54 MB; the queue holds
    // 16 MiB. Measured on the host: 39-42 MiB of growth with the bound
    // (the ring's pages and the writer's row group count too), 70 MiB
    // without it.
    ensure!(
        held_mib < 56,
        "the recorder grew by {held_mib} MiB behind a stalled report"
    );

    let rows = capture::read(&out)?.rows.len() as u64;
    ensure!(
        rows == 2 * PAIRS,
        "the capture has {rows} of {} messages",
        2 * PAIRS
    );
    let behind: u64 = err
        .lines()
        .filter_map(|l| {
            l.split_once("fell behind: ")?
                .1
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .max()
        .ok_or(format!("the report did not say it fell behind: {err}"))?;
    let text = std::fs::read_to_string(&printed).map_err(|e| e.to_string())?;
    let mut shown = 0;
    for line in text.lines() {
        let row: Value = serde_json::from_str(line).map_err(|e| format!("{e}: {line:?}"))?;
        shown += row["count"].as_u64().ok_or(format!("no count: {line:?}"))?;
    }
    ensure!(
        behind > 0 && shown + behind == rows,
        "the report showed {shown} events and said {behind} were not shown, of {rows}"
    );
    Ok(())
}

/// `sockrec watch soconnect`: every IP connect the known workload made is
/// printed (csv), and nothing is written where it ran.
fn watch_prints_and_keeps_no_capture() -> TestResult {
    let dir = TempDir::new("watch");
    let cwd = TempDir::new("watch-cwd");
    let printed = dir.path().join("soconnect.csv");
    let mut wl = workload("known", dir.path())?;
    let mut cmd = util::sockrec();
    cmd.current_dir(cwd.path())
        .args(["watch", "soconnect", "--format", "csv", "-d", "60s"])
        .args(["-p", &wl.pid().to_string()])
        .stdout(Stdio::from(
            File::create(&printed).map_err(|e| e.to_string())?,
        ));
    let rec = Recorder::start(&mut cmd, Duration::from_secs(60)).map_err(text)?;
    wl.go().map_err(text)?;
    let lines = wl.read_until("done").map_err(text)?;
    std::thread::sleep(Duration::from_millis(1500));
    let stopped = rec.stop(libc::SIGINT).map_err(text)?;
    let err = stopped.stderr_text();
    ensure!(stopped.success(), "sockrec watch failed: {err}");
    ensure!(
        stopped.last_line().starts_with("sockrec: watched ") && err.contains("lost 0 "),
        "{err}"
    );
    let connects = lines
        .iter()
        .filter_map(|l| Expected::parse(l))
        .filter(|e| e.kind == "connect" && e.family as i32 != libc::AF_UNIX)
        .count();
    let text = std::fs::read_to_string(&printed).map_err(|e| e.to_string())?;
    let rows = query::csv_rows(&text);
    ensure!(
        rows.first()
            .is_some_and(|h| h.contains(&"address".to_string())),
        "no csv header: {text}"
    );
    ensure!(
        connects > 0 && rows.len() - 1 == connects,
        "watch printed {} connects, the workload made {connects}: {text}",
        rows.len() - 1
    );
    let left: Vec<_> = std::fs::read_dir(cwd.path())
        .map_err(|e| e.to_string())?
        .collect();
    ensure!(left.is_empty(), "watch left files: {left:?}");
    Ok(())
}
