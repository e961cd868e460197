//! The BPF programs a process holds and what the kernel counts for each
//! (`/proc/PID/fdinfo` of its program fds, named by `bpftool prog show`):
//! the kernel part's ns per run. The counters run only while
//! `kernel.bpf_stats_enabled` is on; [`BpfStats`] sets it for a part and
//! puts it back, even when the bench is interrupted.

use anyhow::{Context as _, Result};
use std::{
    collections::BTreeMap,
    ffi::CStr,
    process::Command,
    sync::atomic::{AtomicU8, Ordering},
};

/// One loaded BPF program and its counters (non-zero only while
/// `kernel.bpf_stats_enabled` is on).
#[derive(Clone, Debug)]
pub struct Prog {
    pub id: u32,
    pub name: String,
    pub run_cnt: u64,
    pub run_time_ns: u64,
}

impl Prog {
    pub fn ns_per_run(&self) -> f64 {
        self.run_time_ns as f64 / self.run_cnt.max(1) as f64
    }
}

/// The BPF programs process `pid` holds, with their counters.
///
/// Found through the process's own file descriptors (`/proc/PID/fdinfo`
/// shows `prog_id`, `run_time_ns` and `run_cnt` of a BPF program fd), not
/// through a list of every program: other recorders may be running at the
/// same time (tests), with programs of the same names. Names come from
/// `bpftool prog show`: the kernel keeps 15 characters, bpftool the full
/// name when the program has BTF (sockrec's do, bpftrace's don't).
pub fn progs_of(pid: i32) -> Result<Vec<Prog>> {
    let mut progs = BTreeMap::new();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("reading /proc/{pid}/fd"))?;
    for fd in fds.flatten() {
        let is_prog = std::fs::read_link(fd.path())
            .is_ok_and(|t| t.to_string_lossy() == "anon_inode:bpf-prog");
        if !is_prog {
            continue;
        }
        let info = std::fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            fd.file_name().to_string_lossy()
        ))
        .unwrap_or_default();
        let field = |name: &str| -> Option<u64> {
            info.lines()
                .find_map(|l| l.strip_prefix(name))?
                .trim_start_matches(':')
                .trim()
                .parse()
                .ok()
        };
        if let Some(id) = field("prog_id") {
            progs.insert(
                id as u32,
                Prog {
                    id: id as u32,
                    name: String::new(),
                    run_cnt: field("run_cnt").unwrap_or(0),
                    run_time_ns: field("run_time_ns").unwrap_or(0),
                },
            );
        }
    }
    // "ID: TYPE  name NAME  tag ..."
    let listing = crate::output(Command::new("bpftool").args(["prog", "show"])).unwrap_or_default();
    for line in listing.lines() {
        let Some((id, rest)) = line.split_once(": ") else {
            continue;
        };
        let Ok(id) = id.trim().parse::<u32>() else {
            continue;
        };
        if let Some(p) = progs.get_mut(&id) {
            let mut words = rest.split_whitespace();
            if words.any(|w| w == "name") {
                p.name = words.next().unwrap_or("").to_string();
            }
        }
    }
    for p in progs.values_mut() {
        if p.name.is_empty() {
            p.name = format!("prog{}", p.id);
        }
    }
    Ok(progs.into_values().collect())
}

/// Sets `kernel.bpf_stats_enabled` and puts the old value back when dropped,
/// or when the bench is interrupted (see [`on_interrupt_restore`]).
///
/// Counting costs two clock reads per program run, so it is on for the
/// kernel part only, and off while the overhead part times workloads.
pub struct BpfStats {
    saved: u8,
}

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";
const BPF_STATS_C: &CStr = c"/proc/sys/kernel/bpf_stats_enabled";
/// The value to put back if a signal ends the bench: `b'0'`/`b'1'`, or 0
/// when nothing is to be restored. Read by the signal handler.
static SAVED_STATS: AtomicU8 = AtomicU8::new(0);

impl BpfStats {
    pub fn set(on: bool) -> Result<BpfStats> {
        let saved = match std::fs::read_to_string(BPF_STATS)
            .with_context(|| format!("reading {BPF_STATS}"))?
            .trim()
        {
            "0" => b'0',
            _ => b'1',
        };
        SAVED_STATS.store(saved, Ordering::SeqCst);
        std::fs::write(BPF_STATS, if on { "1" } else { "0" })
            .with_context(|| format!("writing {BPF_STATS}"))?;
        Ok(BpfStats { saved })
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        let _ = std::fs::write(BPF_STATS, [self.saved]);
        SAVED_STATS.store(0, Ordering::SeqCst);
    }
}

/// Makes SIGINT, SIGTERM and SIGHUP put `kernel.bpf_stats_enabled` back
/// before the bench dies of them (the children see to themselves: Ctrl-C
/// reaches them too, and each has a parent-death signal).
pub fn on_interrupt_restore() {
    extern "C" fn handler(sig: libc::c_int) {
        // Only async-signal-safe calls: open, write, close, signal, raise.
        let v = SAVED_STATS.load(Ordering::SeqCst);
        // SAFETY: a NUL-terminated path, a one-byte buffer that lives here.
        unsafe {
            if v != 0 {
                let fd = libc::open(BPF_STATS_C.as_ptr(), libc::O_WRONLY);
                if fd >= 0 {
                    libc::write(fd, (&v as *const u8).cast(), 1);
                    libc::close(fd);
                }
            }
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: installs a handler that only makes async-signal-safe calls.
        unsafe { libc::signal(sig, handler as *const () as libc::sighandler_t) };
    }
}
