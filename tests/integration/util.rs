//! Helpers shared by the tests: their lists (`tests!`), the binary under
//! test, scratch dirs.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::atomic::{AtomicU32, Ordering},
};

/// A failed check, as a message (libtest-mimic prints it).
pub type TestResult = Result<(), String>;

/// One test: its path and function, as [`crate::tests!`] makes it.
pub type Test = (&'static str, fn() -> TestResult);

/// A module's tests.
pub type Tests = &'static [Test];

/// `crate::tests![f, g]`: the calling module's tests, each named by its path
/// (`integration::query::f`), so that a test's name is its function's,
/// typed once. [`test_name`] drops the crate.
#[macro_export]
macro_rules! tests {
    ($($f:ident),* $(,)?) => {
        &[$((concat!(module_path!(), "::", stringify!($f)), $f)),*]
    };
}

/// The name a test is run and filtered by: its path under this crate
/// (`query::list`), the way CI and `cargo xtask test-kernel` (its
/// `HOST_ONLY` list, `SOCKREC_GUEST_TEST_ARGS`) spell it.
pub fn test_name(path: &'static str) -> &'static str {
    path.split_once("::").map_or(path, |(_crate, name)| name)
}

/// `ensure!(cond, "fmt", args)`: fail the test with a message.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!("{}:{}: {}", file!(), line!(), format!($($fmt)+)));
        }
    };
}

/// Recordings (read) and the tests that make other TCP traffic on
/// loopback (write) take turns: see main.rs.
pub static LOOPBACK: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// `sockrec` as cargo built it for this test run.
pub fn sockrec() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sockrec"))
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run sockrec")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Makes `cmd` run without root's capabilities, as a user without
/// privileges would: SECBIT_NOROOT | SECBIT_NOROOT_LOCKED, so that exec no
/// longer grants root its capabilities.
pub fn without_root_capabilities(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: prctl is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_SECUREBITS, 0x3, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Whether this process may load eBPF programs (root or CAP_BPF+CAP_PERFMON).
pub fn can_load_bpf() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    caps & (1 << 21) != 0 || (caps & (1 << 38) != 0 && caps & (1 << 39) != 0)
}

/// A fresh scratch directory under the target dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        // Tests run in parallel: a counter keeps their directories apart.
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Exactly one line on stderr, the way sockrec reports errors.
pub fn one_error_line(out: &Output) -> Result<String, String> {
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.is_empty()).collect();
    if lines.len() != 1 || !lines[0].starts_with("sockrec: ") {
        return Err(format!(
            "expected one 'sockrec: ...' line on stderr, got {err:?}"
        ));
    }
    if err.contains("panicked") {
        return Err(format!("sockrec panicked: {err}"));
    }
    Ok(lines[0].to_string())
}
