//! A `sockrec record` process driven from outside, as the integration
//! tests, `cargo xtask fixtures` and `cargo xtask bench` drive it: started
//! with the caller's arguments, waited for until it says "recording to"
//! (its programs are attached: from then on nothing is missed), stopped by
//! the signal the caller chooses (SIGINT and SIGTERM finish the capture,
//! SIGKILL leaves it as last flushed), its exit, resource usage and stderr
//! collected; the last stderr line is its summary
//! (`sockrec: wrote N events ... lost L (per CPU: [...])`).

use anyhow::{Context as _, Result, bail};
use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::{
    child::{self, Usage},
    lines::Lines,
    proc,
};

/// What the recorder prints on stderr once its programs are attached
/// (recorder/src: the line before the status line).
pub const RECORDING: &str = "sockrec: recording to";

/// How long a stopped recorder may take to finish its file before it is
/// killed (a busy capture's last row group and footer take seconds).
const FINISH: Duration = Duration::from_secs(300);

/// A running `sockrec record`, past its "recording to" line. Dropped
/// without [`Recorder::stop`] or [`Recorder::wait`] (a test or bench part
/// failed half-way), it stops the recorder rather than leave it running.
pub struct Recorder {
    pid: i32,
    lines: Option<Lines>,
    reaped: bool,
    // Kept so the Child (and its stdio handles) lives as long as the process.
    _child: Child,
}

impl Recorder {
    /// Starts `cmd`, a `sockrec record ...` (or a command that execs one, as
    /// `nice` and `unshare` do, so the pid stays the recorder's), with its
    /// stderr piped here, and waits up to `timeout` for its "recording to"
    /// line. The recorder gets SIGTERM (finish the file) if the thread that
    /// started it dies.
    pub fn start(cmd: &mut Command, timeout: Duration) -> Result<Recorder> {
        cmd.stderr(Stdio::piped());
        child::die_with_parent(cmd, libc::SIGTERM);
        let mut child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
        let pid = child.id() as i32;
        let lines = Lines::new(child.stderr.take().expect("stderr piped"));
        if lines.wait_for(RECORDING, timeout).is_none() {
            child::signal(pid, libc::SIGKILL);
            let _ = child::reap(pid, Duration::from_secs(10));
            bail!(
                "{cmd:?} did not start recording within {timeout:?}: {}",
                lines.so_far()
            );
        }
        Ok(Recorder {
            pid,
            lines: Some(lines),
            reaped: false,
            _child: child,
        })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `sig` (SIGSTOP and SIGCONT included) and leaves it running.
    pub fn signal(&self, sig: libc::c_int) {
        child::signal(self.pid, sig);
    }

    /// Sends `sig` and waits for the recorder to exit.
    pub fn stop(self, sig: libc::c_int) -> Result<Stopped> {
        self.signal(sig);
        self.wait()
    }

    /// Waits for the recorder to exit (by itself with `-d`, or after a
    /// signal), killing it if it takes more than 5 minutes.
    pub fn wait(mut self) -> Result<Stopped> {
        let usage = child::reap(self.pid, FINISH);
        self.reaped = true;
        let usage = usage?;
        // The reader thread ends at EOF, once the recorder has exited.
        let stderr = self.lines.take().map(Lines::finish).unwrap_or_default();
        Ok(Stopped { usage, stderr })
    }

    /// The memory the recorder holds now (VmRSS), in KiB.
    pub fn rss_kib(&self) -> Result<u64> {
        proc::rss_kib(self.pid).with_context(|| format!("no VmRSS in /proc/{}/status", self.pid))
    }

    /// CPU time (user + system) the recorder has used so far.
    pub fn cpu_time(&self) -> Option<Duration> {
        proc::cpu_time(self.pid)
    }

    /// The thread id of the recorder's thread named `name`, waiting up to
    /// 10 s for it (its threads may start just after the "recording to"
    /// line).
    pub fn thread(&self, name: &str) -> Result<i32> {
        let waited = Instant::now();
        while waited.elapsed() < Duration::from_secs(10) {
            if let Some(t) = proc::threads(self.pid).into_iter().find(|t| t.name == name) {
                return Ok(t.tid);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!(
            "no thread named {name} in /proc/{}/task within 10 s",
            self.pid
        )
    }

    /// CPU time so far of the recorder's threads named `name` (zero if it
    /// has none).
    pub fn thread_cpu(&self, name: &str) -> Duration {
        proc::thread_cpu_times(self.pid)
            .into_iter()
            .find(|(n, _)| n == name)
            .map_or(Duration::ZERO, |(_, cpu)| cpu)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if !self.reaped {
            self.signal(libc::SIGTERM);
            // A stopped recorder (a loss test) must run to see SIGTERM.
            self.signal(libc::SIGCONT);
            let _ = child::reap(self.pid, Duration::from_secs(30));
        }
    }
}

/// A recorder that has exited: how, and all it said on stderr.
#[derive(Debug)]
pub struct Stopped {
    pub usage: Usage,
    pub stderr: Vec<String>,
}

/// The counts of the recorder's summary line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub events: u64,
    pub lost: u64,
}

impl Stopped {
    /// Exited with 0.
    pub fn success(&self) -> bool {
        self.usage.success
    }

    /// Itself if it exited with 0, else an error with its status and stderr.
    pub fn ok(self) -> Result<Stopped> {
        if !self.success() {
            bail!(
                "sockrec record failed ({}): {}",
                self.usage.status,
                self.stderr_text()
            );
        }
        Ok(self)
    }

    /// Its stderr, one string.
    pub fn stderr_text(&self) -> String {
        self.stderr.join("\n")
    }

    /// Its last line on stderr (its summary, when it finished the file).
    pub fn last_line(&self) -> &str {
        self.stderr.last().map_or("", String::as_str)
    }

    /// Events written and lost, from its last `sockrec: wrote ` line.
    pub fn summary(&self) -> Result<Summary> {
        let line = self
            .stderr
            .iter()
            .rev()
            .find(|l| l.starts_with("sockrec: wrote "))
            .with_context(|| format!("no summary line: {}", self.stderr_text()))?;
        Summary::parse(line).with_context(|| format!("no counts in {line:?}"))
    }
}

impl Summary {
    /// `sockrec: wrote N events (K in flight) ... lost L (per CPU: [...])`.
    pub fn parse(line: &str) -> Option<Summary> {
        let number_after = |word: &str| -> Option<u64> {
            let rest = &line[line.find(word)? + word.len()..];
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        };
        Some(Summary {
            events: number_after("wrote ")?,
            lost: number_after("lost ")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts() {
        let line = "sockrec: wrote 1234 events (1 in flight), 56 kB to x.parquet in 2s, \
                    lost 7 (per CPU: [3, 4])";
        assert_eq!(
            Summary::parse(line),
            Some(Summary {
                events: 1234,
                lost: 7
            })
        );
        assert_eq!(Summary::parse("sockrec: recording to x"), None);
    }

    /// A stand-in recorder (sh) that prints the line, then its summary on
    /// SIGINT: started, stopped, its last line read back.
    #[test]
    fn start_then_stop_by_signal() {
        let script = "trap 'echo \"sockrec: wrote 3 events, lost 0 (per CPU: [0])\" >&2; exit 0' INT; \
                      echo 'sockrec: recording to x.parquet' >&2; \
                      while :; do sleep 0.05; done";
        let rec = Recorder::start(
            Command::new("sh").args(["-c", script]),
            Duration::from_secs(10),
        )
        .unwrap();
        assert!(rec.rss_kib().unwrap() > 0);
        let stopped = rec.stop(libc::SIGINT).unwrap().ok().unwrap();
        assert_eq!(stopped.summary().unwrap(), Summary { events: 3, lost: 0 });
        assert!(stopped.last_line().starts_with("sockrec: wrote 3"));
    }

    #[test]
    fn a_recorder_that_never_records_is_an_error_with_its_stderr() {
        let err = Recorder::start(
            Command::new("sh").args(["-c", "echo 'sockrec: no BTF' >&2; exit 1"]),
            Duration::from_secs(10),
        )
        .err()
        .expect("it never said recording");
        assert!(format!("{err:#}").contains("sockrec: no BTF"), "{err:#}");
    }
}
