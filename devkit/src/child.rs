//! A child process's end: reaping it with `wait4` (for its resource usage,
//! which `std` does not give), signalling it, and having it signalled when
//! its parent dies.

use anyhow::{Context as _, Result};
use std::{
    os::unix::process::{CommandExt as _, ExitStatusExt as _},
    process::{Command, ExitStatus},
    time::{Duration, Instant},
};

/// How a child ended, with what `wait4` says it used.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    /// Its wait status, as `std` shows it ("exit status: 1", "signal: 9").
    pub status: ExitStatus,
    /// Exited with 0, and not because [`reap`] had to kill it.
    pub success: bool,
    /// User + system CPU time.
    pub cpu: Duration,
    /// Peak resident set size, KiB (`ru_maxrss`).
    pub max_rss_kib: u64,
}

/// Reaps `pid`, our own child, with `wait4`, sending SIGKILL if it has not
/// exited after `timeout` (and then counting it as failed).
pub fn reap(pid: i32, timeout: Duration) -> Result<Usage> {
    let deadline = Instant::now() + timeout;
    let mut killed = false;
    loop {
        let mut status = 0;
        // SAFETY: plain syscall on our own child, with out-pointers to locals.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            let tv = |t: libc::timeval| {
                Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
            };
            return Ok(Usage {
                status: ExitStatus::from_raw(status),
                success: !killed && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
                max_rss_kib: ru.ru_maxrss as u64,
            });
        }
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e).context("wait4");
            }
        }
        if !killed && Instant::now() > deadline {
            eprintln!("pid {pid} did not exit in {timeout:?}: SIGKILL");
            signal(pid, libc::SIGKILL);
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `sig` to `pid`, a child of ours not yet reaped (so the pid is
/// still ours).
pub fn signal(pid: i32, sig: libc::c_int) {
    // SAFETY: kill(2) with plain integers.
    unsafe { libc::kill(pid, sig) };
}

/// Has `cmd`'s process get `sig` when the thread that starts it dies
/// (prctl(2) PR_SET_PDEATHSIG), so a killed test or bench leaves no
/// recorder (which without `-d` would record forever) or workload behind.
pub fn die_with_parent(cmd: &mut Command, sig: libc::c_int) -> &mut Command {
    // SAFETY: prctl is async-signal-safe, fine between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, sig);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The children are reaped by `reap` (wait4), which clippy cannot see.
    #[allow(clippy::zombie_processes)]
    #[test]
    fn reap_reads_the_exit_and_kills_after_the_timeout() {
        let ok = Command::new("true").spawn().unwrap();
        let u = reap(ok.id() as i32, Duration::from_secs(10)).unwrap();
        assert!(u.success && u.status.success(), "{u:?}");
        let fail = Command::new("false").spawn().unwrap();
        let u = reap(fail.id() as i32, Duration::from_secs(10)).unwrap();
        assert!(!u.success && u.status.code() == Some(1), "{u:?}");
        let slow = Command::new("sleep").arg("60").spawn().unwrap();
        let u = reap(slow.id() as i32, Duration::from_millis(100)).unwrap();
        assert!(
            !u.success && u.status.signal() == Some(libc::SIGKILL),
            "{u:?}"
        );
    }
}
