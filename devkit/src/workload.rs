//! The workload protocol: a child process that makes the socket calls a
//! test, a fixture or a bench part records. The child prints `ready` once
//! it is set up, waits for a line (`go`) on stdin, so the recorder can be
//! attached in between, does its work, and prints lines of what it did,
//! ending with a marker the parent waits for (or with the end of its
//! output). [`Workload`] is the parent's side, [`ready_then_wait_for_go`]
//! the child's.

use anyhow::{Context as _, Result, bail};
use std::{
    io::{BufRead as _, BufReader, Write as _},
    process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio},
};

/// A workload child, started and stopped at `ready`. Dropped, it is killed
/// (a scenario may be left blocked, or looping, on purpose).
pub struct Workload {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Workload {
    /// Starts `cmd` with its stdin and stdout piped here, and waits for its
    /// `ready`.
    pub fn start(cmd: &mut Command) -> Result<Workload> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting the workload {cmd:?}"))?;
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout piped"));
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        if line.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            bail!("workload {cmd:?} did not start: {line:?}");
        }
        Ok(Workload {
            child,
            stdin,
            stdout,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets it do its work.
    pub fn go(&mut self) -> Result<()> {
        let stdin = self.stdin.as_mut().context("go sent twice")?;
        writeln!(stdin, "go").context("sending go to the workload")
    }

    /// Its lines up to the line `marker` (not included); an error if its
    /// output ends first.
    pub fn read_until(&mut self, marker: &str) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if self.stdout.read_line(&mut line)? == 0 {
                bail!("workload ended before {marker:?}: {lines:?}");
            }
            if line.trim() == marker {
                return Ok(lines);
            }
            lines.push(line.trim_end().to_string());
        }
    }

    /// Its lines to the end of its output, once it has exited with 0.
    pub fn finish(mut self) -> Result<Vec<String>> {
        // Closed first: a child reading on to the end of its input ends.
        self.stdin = None;
        let lines: Vec<String> = (&mut self.stdout).lines().collect::<Result<_, _>>()?;
        let status = self.wait()?;
        if !status.success() {
            bail!("workload failed ({status}): {lines:?}");
        }
        Ok(lines)
    }

    /// Waits for it to exit.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        self.stdin = None;
        self.child.wait().context("waiting for the workload")
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child's side: prints `ready` on stdout and waits for the parent's
/// line on stdin.
pub fn ready_then_wait_for_go() -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    let mut go = String::new();
    std::io::stdin().lock().read_line(&mut go)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in child (sh) speaking the protocol.
    #[test]
    fn ready_go_lines_until_a_marker() {
        let script = "echo ready; read go; echo \"got $go\"; echo did 2; echo after";
        let mut wl = Workload::start(Command::new("sh").args(["-c", script])).unwrap();
        assert!(wl.pid() > 0);
        wl.go().unwrap();
        assert_eq!(wl.read_until("did 2").unwrap(), ["got go"]);
        assert_eq!(wl.finish().unwrap(), ["after"]);
    }

    #[test]
    fn a_child_that_is_not_ready_or_ends_early_is_an_error() {
        assert!(Workload::start(Command::new("sh").args(["-c", "echo nope"])).is_err());
        let mut wl =
            Workload::start(Command::new("sh").args(["-c", "echo ready; read go; echo x"]))
                .unwrap();
        wl.go().unwrap();
        assert!(wl.read_until("done").is_err());
    }
}
