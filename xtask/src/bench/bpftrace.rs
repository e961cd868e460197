//! bpftrace running one of the seed's tools (`bench/*.bt`), the tracer the
//! overhead and kernel parts compare `sockrec record` with: started, waited
//! for until its tracepoints are attached (`bpftool perf show`), stopped as
//! Ctrl-C would.

use anyhow::{Context as _, Result, bail};
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::env::Env;
use sockrec_devkit::child::{die_with_parent, reap, signal};

/// One of the seed's tools, adapted to this kernel (see the header of each
/// script in `bench/`).
pub struct Script {
    pub name: &'static str,
    pub file: &'static str,
    /// How many tracepoints it attaches: attached once `bpftool perf show`
    /// lists that many for its pid (bpftrace 0.17 attaches tracepoints with
    /// perf events, not BPF links, and prints nothing when done).
    pub attach_points: usize,
    /// Whether its `sys_enter_*` programs are events of their own (sockstat
    /// counts entries) or the first half of one (soconnect times calls).
    pub counts_entries: bool,
}

pub const SOCKSTAT: Script = Script {
    name: "sockstat",
    file: "bench/sockstat.bt",
    // accept, accept4, connect, bind, socket, socketpair, send, recv
    attach_points: 8,
    counts_entries: true,
};

pub const SOCONNECT: Script = Script {
    name: "soconnect",
    file: "bench/soconnect.bt",
    attach_points: 2,
    counts_entries: false,
};

/// A running bpftrace, its output to /dev/null (soconnect prints per
/// event: the wakeups that costs are part of what is measured).
pub struct Bpftrace {
    pid: i32,
    _child: Child,
    stderr: PathBuf,
    reaped: bool,
}

impl Bpftrace {
    pub fn start(env: &Env, script: &Script) -> Result<Bpftrace> {
        let stderr = env.scratch(&format!("bpftrace-{}.stderr", script.name));
        let mut cmd = Command::new("bpftrace");
        cmd.arg(env.root.join(script.file))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr)?);
        die_with_parent(&mut cmd, libc::SIGTERM);
        let mut child = cmd.spawn().context("starting bpftrace")?;
        let pid = child.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let attached = crate::output(Command::new("bpftool").args(["perf", "show"]))
                .unwrap_or_default()
                .lines()
                .filter(|l| l.starts_with(&format!("pid {pid} ")) && l.contains("tracepoint"))
                .count();
            if attached >= script.attach_points {
                break;
            }
            let exited = child.try_wait()?.is_some();
            if exited || Instant::now() > deadline {
                if !exited {
                    signal(pid, libc::SIGKILL);
                    let _ = child.wait();
                }
                bail!(
                    "bpftrace {} did not attach ({attached} of {} tracepoints): {}",
                    script.file,
                    script.attach_points,
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Bpftrace {
            pid,
            _child: child,
            stderr,
            reaped: false,
        })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Stops it as Ctrl-C would (it prints its maps, to /dev/null, and exits).
    pub fn stop(mut self) -> Result<()> {
        signal(self.pid, libc::SIGINT);
        let usage = reap(self.pid, Duration::from_secs(60));
        self.reaped = true;
        if !usage?.success {
            bail!(
                "bpftrace failed: {}",
                std::fs::read_to_string(&self.stderr).unwrap_or_default()
            );
        }
        Ok(())
    }
}

impl Drop for Bpftrace {
    fn drop(&mut self) {
        if !self.reaped {
            signal(self.pid, libc::SIGINT);
            let _ = reap(self.pid, Duration::from_secs(30));
        }
    }
}
