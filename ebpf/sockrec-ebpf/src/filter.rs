//! The filter every program applies before doing any work: the event kinds
//! (`--events`), the recorder itself, `-p/--pid`, `--cgroup` and `--comm`,
//! as user space set them in config.rs's globals.
//!
//! A leaf: imports config.rs and task.rs (the `--comm` filter reads the
//! current task's comm).

use aya_ebpf::helpers::{bpf_get_current_ancestor_cgroup_id, bpf_get_current_pid_tgid};
use core::ptr::read_volatile;
use sockrec_common::EventKind;

use crate::{
    config::{EVENT_MASK, FILTER_CGROUP, FILTER_CGROUP_LEVEL, FILTER_COMM, FILTER_PID, SELF_PID},
    task::current_comm,
};

/// Whether the current task's `kind` events are to be recorded.
#[inline(always)]
pub fn should_trace(kind: EventKind, pid_tgid: u64) -> bool {
    let mask = unsafe { read_volatile(&EVENT_MASK) };
    if mask & kind.bit() == 0 {
        return false;
    }
    let tgid = (pid_tgid >> 32) as u32;
    if tgid == unsafe { read_volatile(&SELF_PID) } {
        return false;
    }
    let pid = unsafe { read_volatile(&FILTER_PID) };
    if pid != 0 && pid != tgid {
        return false;
    }
    let cgroup = unsafe { read_volatile(&FILTER_CGROUP) };
    if cgroup != 0 {
        let level = unsafe { read_volatile(&FILTER_CGROUP_LEVEL) };
        // The ancestor at the filter's depth is the filter's cgroup exactly
        // when the task is in it or below it.
        if unsafe { bpf_get_current_ancestor_cgroup_id(level as i32) } != cgroup {
            return false;
        }
    }
    let want = unsafe { read_volatile(&FILTER_COMM) };
    if want[0] != 0 {
        // A failed read is all zeros, which no filter matches.
        if current_comm() != want {
            return false;
        }
    }
    true
}

/// `bpf_get_current_pid_tgid()`, named for readers of the handlers.
#[inline(always)]
pub fn current_pid_tgid() -> u64 {
    bpf_get_current_pid_tgid()
}
