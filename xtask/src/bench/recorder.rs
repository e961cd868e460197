//! `sockrec record` as the bench runs it: the binary measured
//! (`Env::sockrec`), quiet, writing a scratch capture, at a chosen nice;
//! stopped with SIGTERM (the recorder finishes its file), and what it did
//! read from its summary line and `wait4`. The process itself is driven by
//! `sockrec_devkit::Recorder`.

use anyhow::Result;
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use super::env::Env;
use sockrec_devkit::{Stopped, child::Usage};

/// A running `sockrec record`; the devkit's recorder underneath (its pid,
/// CPU time, threads).
pub struct Recorder {
    process: sockrec_devkit::Recorder,
    pub output: PathBuf,
}

/// What a recording did, from its last line and `wait4`.
#[derive(Clone, Debug)]
pub struct Recording {
    pub events: u64,
    pub lost: u64,
    pub usage: Usage,
    /// Size of the capture on disk.
    pub file_bytes: u64,
}

impl Recorder {
    /// Starts `sockrec record -q -o OUTPUT --force EXTRA...` and waits until
    /// it says it is recording (its programs are attached).
    pub fn start(env: &Env, output: &Path, extra: &[&str]) -> Result<Recorder> {
        Self::start_niced(env, output, extra, 0)
    }

    /// [`Recorder::start`] at scheduling priority `nice` (through `nice(1)`,
    /// which execs sockrec, so the pid is still the recorder's).
    pub fn start_niced(env: &Env, output: &Path, extra: &[&str], nice: i32) -> Result<Recorder> {
        let mut cmd = Command::new("nice");
        cmd.arg(format!("-n{nice}"))
            .arg(&env.sockrec)
            .args(["record", "-q", "--force", "-o"])
            .arg(output)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        Ok(Recorder {
            process: sockrec_devkit::Recorder::start(&mut cmd, Duration::from_secs(120))?,
            output: output.to_path_buf(),
        })
    }

    /// Stops the recording (SIGTERM: the recorder finishes the file) and
    /// reads what it did.
    pub fn stop(self) -> Result<Recording> {
        let stopped = self.process.stop(libc::SIGTERM)?;
        recording(stopped, &self.output)
    }

    /// Waits for a recording with `-d` to end by itself.
    pub fn wait(self) -> Result<Recording> {
        let stopped = self.process.wait()?;
        recording(stopped, &self.output)
    }
}

impl std::ops::Deref for Recorder {
    type Target = sockrec_devkit::Recorder;
    fn deref(&self) -> &sockrec_devkit::Recorder {
        &self.process
    }
}

fn recording(stopped: Stopped, output: &Path) -> Result<Recording> {
    let stopped = stopped.ok()?;
    let summary = stopped.summary()?;
    Ok(Recording {
        events: summary.events,
        lost: summary.lost,
        usage: stopped.usage,
        file_bytes: std::fs::metadata(output).map_or(0, |m| m.len()),
    })
}
