//! The command line without recording: bad input gets one clear line.

use crate::{
    ensure,
    util::{self, TempDir, TestResult, Tests},
};

pub const TESTS: Tests = crate::tests![
    info_missing_file,
    info_not_parquet,
    record_refuses_to_overwrite,
    record_rejects_unknown_event_kind,
    record_refuses_what_is_not_a_file,
    query_memory_limit,
    record_usage_errors,
    record_refuses_a_bad_live_report,
    completions_and_man_pages,
];

/// `sockrec generate`: bash's completion script is valid bash that
/// completes every subcommand; the man pages are one per subcommand, in
/// roff, with the options' help.
fn completions_and_man_pages() -> TestResult {
    let subcommands = ["info", "query", "slice", "redact", "plot", "generate"];
    let out = util::run(util::sockrec().args(["generate", "bash"]));
    ensure!(out.status.success(), "{}", util::stderr(&out));
    let script = String::from_utf8_lossy(&out.stdout).into_owned();
    for sub in subcommands {
        ensure!(
            script.contains(&format!("sockrec__subcmd__{sub}")),
            "bash: no {sub}"
        );
    }
    let dir = TempDir::new("man");
    let file = dir.path().join("sockrec.bash");
    std::fs::write(&file, &script).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .unwrap();
    ensure!(check.status.success(), "bash -n: {}", util::stderr(&check));
    for shell in ["zsh", "fish"] {
        let out = util::run(util::sockrec().args(["generate", shell]));
        ensure!(out.status.success() && out.stdout.len() > 1000, "{shell}");
    }
    let out = util::run(
        util::sockrec()
            .args(["generate", "man", "--dir"])
            .arg(dir.path()),
    );
    ensure!(out.status.success(), "{}", util::stderr(&out));
    for sub in subcommands {
        let page = std::fs::read_to_string(dir.path().join(format!("sockrec-{sub}.1")))
            .map_err(|e| format!("sockrec-{sub}.1: {e}"))?;
        ensure!(
            page.contains(&format!(".TH sockrec-{sub} 1")),
            "sockrec-{sub}.1 is not roff"
        );
    }
    let slice = std::fs::read_to_string(dir.path().join("sockrec-slice.1")).unwrap();
    ensure!(
        slice.contains("\\-\\-since"),
        "no --since in sockrec-slice.1"
    );
    Ok(())
}

/// A live report that can't run (no such report, SQL that doesn't plan, a
/// format it can't take) is one line and exit 1 before anything is loaded
/// or created; `--format` and `--interval` without `--report` are usage
/// errors.
fn record_refuses_a_bad_live_report() -> TestResult {
    let dir = util::TempDir::new("live-bad");
    let sql = dir.path().join("bad.sql");
    std::fs::write(&sql, "SELECT no_such_column FROM events").map_err(|e| e.to_string())?;
    let capture = dir.path().join("never.parquet");
    let capture = capture.to_str().unwrap();
    for (report, format, says) in [
        (
            "nosuch",
            None,
            "nosuch: no such file, nor a built-in report",
        ),
        (sql.to_str().unwrap(), None, "no_such_column"),
        (
            "sofamily,soconnect",
            Some("csv"),
            "--format csv takes one --report",
        ),
        (
            sql.to_str().unwrap(),
            Some("tool"),
            "--format tool is only for the built-in reports",
        ),
    ] {
        let mut cmd = util::sockrec();
        cmd.args(["record", "-d", "1s", "-o", capture, "--report", report]);
        if let Some(f) = format {
            cmd.args(["--format", f]);
        }
        let out = util::run(&mut cmd);
        ensure!(
            out.status.code() == Some(1),
            "{report}: exit {:?}",
            out.status.code()
        );
        let line = util::one_error_line(&out)?;
        ensure!(line.contains(says), "{report}: {line}");
        ensure!(
            !std::path::Path::new(capture).exists(),
            "{report}: a capture was created"
        );
    }
    for flag in [["--format", "csv"], ["--interval", "2"]] {
        let out = util::run(util::sockrec().args(["record", "-d", "1s", flag[0], flag[1]]));
        ensure!(
            out.status.code() == Some(2),
            "{flag:?}: exit {:?}",
            out.status.code()
        );
        ensure!(
            util::stderr(&out).contains("--report"),
            "{flag:?}: {}",
            util::stderr(&out)
        );
    }
    Ok(())
}

/// Bad `--buffer-mib` and `--duration` values are clap's usage errors:
/// exit 2, the flag named, before anything is created or loaded.
fn record_usage_errors() -> TestResult {
    for (flag, value, says) in [
        ("--buffer-mib", "3", "power of two"),
        ("--buffer-mib", "2048", "power of two"),
        ("--buffer-mib", "lots", "power of two"),
        ("--duration", "0s", "more than 0"),
        ("--duration", "soon", "--duration"),
    ] {
        let out = util::run(util::sockrec().args(["record", flag, value]));
        ensure!(
            out.status.code() == Some(2),
            "{flag} {value}: exit {:?}",
            out.status.code()
        );
        let err = util::stderr(&out);
        ensure!(
            err.contains(flag) && err.contains(says),
            "{flag} {value}: {err}"
        );
    }
    Ok(())
}

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

/// A directory or a device at `-o` is one line and exit 1, with or without
/// `--force`, and nothing is created or replaced. Checked without
/// privileges too: the path is refused before any probe is loaded (or the
/// error would be the missing capabilities).
fn record_refuses_what_is_not_a_file() -> TestResult {
    let dir = TempDir::new("notafile");
    for force in [false, true] {
        for (target, says) in [
            (dir.path().to_str().unwrap(), "is a directory"),
            ("/dev/full", "/dev/full is a device"),
            ("/dev/null", "/dev/null is a device"),
        ] {
            for unprivileged in [false, true] {
                let mut cmd = util::sockrec();
                cmd.args(["record", "-d", "1s", "-o", target]);
                if force {
                    cmd.arg("--force");
                }
                if unprivileged {
                    util::without_root_capabilities(&mut cmd);
                }
                let out = util::run(&mut cmd);
                ensure!(out.status.code() == Some(1), "exit {:?}", out.status.code());
                let line = util::one_error_line(&out)?;
                ensure!(line.contains(says), "-o {target} (force {force}): {line}");
            }
        }
    }
    let meta = std::fs::metadata("/dev/null").map_err(|e| e.to_string())?;
    use std::os::unix::fs::FileTypeExt as _;
    ensure!(meta.file_type().is_char_device(), "/dev/null was replaced");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    ensure!(left.is_empty(), "files left behind: {left:?}");
    Ok(())
}

/// A query beyond `--memory-limit` (a cartesian join, a big sort) ends in
/// one line naming the limit, not in the machine's memory.
fn query_memory_limit() -> TestResult {
    let fixture = crate::query::fixture("host-a");
    let fixture = fixture.to_str().unwrap();
    for sql in [
        "SELECT * FROM events a, events b, events c",
        "SELECT a.*, b.time AS t2 FROM events a, events b ORDER BY a.comm, b.time",
    ] {
        let out = util::run(util::sockrec().args([
            "query",
            "-e",
            sql,
            "-i",
            fixture,
            "--memory-limit",
            "2M",
        ]));
        ensure!(
            out.status.code() == Some(1),
            "{sql}: exit {:?}",
            out.status.code()
        );
        let line = util::one_error_line(&out)?;
        ensure!(
            line.contains("memory limit") && line.contains("2.0 MiB"),
            "{sql}: {line}"
        );
    }
    // Within the limit, the same session answers.
    let out = util::run(util::sockrec().args([
        "query",
        "-e",
        "SELECT count(*) AS n FROM events a, events b",
        "-i",
        fixture,
        "--memory-limit",
        "64M",
        "--format",
        "csv",
    ]));
    ensure!(out.status.success(), "{}", util::stderr(&out));
    // A size that is not one is clap's usage error.
    let out = util::run(util::sockrec().args(["query", "sofamily", "--memory-limit", "lots"]));
    ensure!(out.status.code() == Some(2), "exit {:?}", out.status.code());
    ensure!(
        util::stderr(&out).contains("is not a size"),
        "{}",
        util::stderr(&out)
    );
    Ok(())
}
