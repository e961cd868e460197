//! The command line without recording: bad input gets one clear line.

use crate::{
    ensure,
    util::{self, TempDir, TestResult, Tests},
};

pub const TESTS: Tests = &[
    ("cli::info_missing_file", info_missing_file),
    ("cli::info_not_parquet", info_not_parquet),
    (
        "cli::record_refuses_to_overwrite",
        record_refuses_to_overwrite,
    ),
    (
        "cli::record_rejects_unknown_event_kind",
        record_rejects_unknown_event_kind,
    ),
];

fn info_missing_file() -> TestResult {
    let out = util::run(util::sockrec().args(["info", "/nonexistent/capture.parquet"]));
    ensure!(out.status.code() == Some(1), "exit {:?}", out.status.code());
    let line = util::one_error_line(&out)?;
    ensure!(line.contains("/nonexistent/capture.parquet"), "{line}");
    Ok(())
}

fn info_not_parquet() -> TestResult {
    let dir = TempDir::new("notparquet");
    let f = dir.path().join("junk.parquet");
    std::fs::write(&f, b"this is not a parquet file at all").unwrap();
    let out = util::run(util::sockrec().arg("info").arg(&f));
    ensure!(out.status.code() == Some(1), "exit {:?}", out.status.code());
    let line = util::one_error_line(&out)?;
    ensure!(line.contains("not a Parquet file"), "{line}");
    Ok(())
}

/// An existing file is never overwritten without --force, and is left as it was.
fn record_refuses_to_overwrite() -> TestResult {
    let dir = TempDir::new("overwrite");
    let f = dir.path().join("old.parquet");
    std::fs::write(&f, b"precious").unwrap();
    let out = util::run(util::sockrec().args(["record", "-d", "1s", "-o"]).arg(&f));
    ensure!(out.status.code() == Some(1), "exit {:?}", out.status.code());
    let line = util::one_error_line(&out)?;
    ensure!(
        line.contains("already exists") && line.contains("--force"),
        "{line}"
    );
    ensure!(
        std::fs::read(&f).unwrap() == b"precious",
        "file was touched"
    );
    Ok(())
}

fn record_rejects_unknown_event_kind() -> TestResult {
    let out =
        util::run(util::sockrec().args(["record", "-d", "1s", "--events", "connect,sendmsg"]));
    ensure!(out.status.code() == Some(1), "exit {:?}", out.status.code());
    let line = util::one_error_line(&out)?;
    ensure!(line.contains("unknown event kind \"sendmsg\""), "{line}");
    Ok(())
}
