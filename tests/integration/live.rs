//! Privileged tests of the live reports (`sockrec record --report`): what
//! was printed while recording is what `sockrec query` says of the capture
//! just written.

use std::{collections::BTreeMap, fs::File, process::Stdio, time::Duration};

use serde_json::Value;
use sockrec_devkit::Recorder;

use crate::{
    ensure, query,
    record::{text, workload},
    util::{self, TempDir, TestResult, Tests},
};

pub const TESTS: Tests = crate::tests![every_report_live_is_what_query_says];

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
