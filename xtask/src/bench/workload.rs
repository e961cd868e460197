//! The bench's workload children: `xtask bench --workload KIND SECS`, one
//! loopback loop of `crate::workload` per process, driven through the
//! workload protocol of `sockrec_devkit::workload`.
//!
//! The workload runs as a child process rather than in the bench process:
//! - its CPU and scheduling are its own, not mixed with the bench reading
//!   `/proc` or a recorder's stderr;
//! - it has its own pid and comm (`bench-udp`, `bench-tcp`), so a recording
//!   can be filtered to exactly its events (`--comm`), as the size part does;
//! - several can run at once, as the throughput part needs.

use anyhow::{Context as _, Result, bail};
use std::{ffi::CString, process::Command, time::Duration};

use super::env::Env;
use crate::workload;
use sockrec_devkit::{child::die_with_parent, workload as protocol};

/// The child side of [`Workload`]: `xtask bench --workload KIND SECS`.
/// Prints `ready`, waits for `go`, then prints `ops N elapsed_ns M`.
pub fn workload_child(kind: &str, secs: &str) -> Result<()> {
    let secs: f64 = secs.parse().context("SECONDS must be a number")?;
    // Named before the first socket call, so a `--comm` filter sees them all.
    let comm = CString::new(comm_of(kind)).expect("no NUL");
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, comm.as_ptr()) };
    protocol::ready_then_wait_for_go()?;
    let (ops, elapsed) = workload::run_timed(kind, Duration::from_secs_f64(secs))?;
    println!("ops {ops} elapsed_ns {}", elapsed.as_nanos());
    Ok(())
}

/// The comm the workload child of `kind` runs under.
pub fn comm_of(kind: &str) -> String {
    format!("bench-{kind}")
}

/// One run of a workload: how many operations, in how long.
#[derive(Clone, Copy, Debug)]
pub struct WorkloadRun {
    pub ops: u64,
    pub elapsed: Duration,
    pub events_per_op: u64,
}

impl WorkloadRun {
    pub fn ops_per_s(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    pub fn events(&self) -> u64 {
        self.ops * self.events_per_op
    }
    pub fn events_per_s(&self) -> f64 {
        self.ops_per_s() * self.events_per_op as f64
    }
}

/// A running workload child.
pub struct Workload {
    child: protocol::Workload,
    kind: String,
}

impl Workload {
    /// Starts a child running `kind` for `dur`, ready but not yet going.
    fn ready(env: &Env, kind: &str, dur: Duration) -> Result<Workload> {
        let mut cmd = Command::new(&env.xtask);
        cmd.args(["bench", "--workload", kind])
            .arg(format!("{}", dur.as_secs_f64()));
        die_with_parent(&mut cmd, libc::SIGKILL);
        Ok(Workload {
            child: protocol::Workload::start(&mut cmd)?,
            kind: kind.to_string(),
        })
    }

    /// Starts a child running `kind` for `dur`, going.
    pub fn spawn(env: &Env, kind: &str, dur: Duration) -> Result<Workload> {
        let mut w = Workload::ready(env, kind, dur)?;
        w.child.go()?;
        Ok(w)
    }

    pub fn wait(self) -> Result<WorkloadRun> {
        let text = self
            .child
            .finish()
            .with_context(|| format!("workload {}", self.kind))?
            .join("\n");
        let field = |name: &str| -> Option<u64> {
            let mut it = text.split_whitespace();
            it.find(|w| *w == name)?;
            it.next()?.parse().ok()
        };
        match (field("ops"), field("elapsed_ns")) {
            (Some(ops), Some(ns)) => Ok(WorkloadRun {
                ops,
                elapsed: Duration::from_nanos(ns),
                events_per_op: workload::events_per_op(&self.kind),
            }),
            _ => bail!("workload {}: unexpected output {text:?}", self.kind),
        }
    }
}

/// Runs one workload child to the end.
pub fn run_workload(env: &Env, kind: &str, dur: Duration) -> Result<WorkloadRun> {
    Workload::spawn(env, kind, dur)?.wait()
}

/// Runs several workload children at once (all set up, then all let go);
/// their runs in the same order.
pub fn run_workloads(env: &Env, kinds: &[&str], dur: Duration) -> Result<Vec<WorkloadRun>> {
    let mut children = kinds
        .iter()
        .map(|k| Workload::ready(env, k, dur))
        .collect::<Result<Vec<_>>>()?;
    for w in &mut children {
        w.child.go()?;
    }
    children.into_iter().map(Workload::wait).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_rates() {
        let w = WorkloadRun {
            ops: 1000,
            elapsed: Duration::from_millis(500),
            events_per_op: 2,
        };
        assert_eq!(w.ops_per_s(), 2000.0);
        assert_eq!(w.events(), 2000);
        assert_eq!(w.events_per_s(), 4000.0);
    }
}
