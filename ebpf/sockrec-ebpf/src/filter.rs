//! The filter every program applies before doing any work: the event kinds
//! (`--events`), the recorder itself, `-p/--pid`, `--cgroup` and `--comm`,
//! as user space set them in config.rs's globals.
//!
//! A leaf: imports config.rs, maps.rs and task.rs (the `--comm` filter
//! reads the current task's comm).

use aya_ebpf::helpers::{bpf_get_current_ancestor_cgroup_id, bpf_get_current_pid_tgid};
use core::ptr::read_volatile;
use sockrec_common::EventKind;

use crate::{
    config::{EVENT_MASK, FILTER_CGROUP, FILTER_CGROUP_LEVEL, FILTER_COMM, FILTER_PID, SELF_PID},
    maps::{TRACED_PORTS, TRACED_SOCKS},
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

/// Whether a `--pid`, `--comm` or `--cgroup` filter is set.
#[inline(always)]
pub fn filtering() -> bool {
    unsafe {
        read_volatile(&FILTER_PID) != 0
            || read_volatile(&FILTER_CGROUP) != 0
            || read_volatile(&FILTER_COMM)[0] != 0
    }
}

/// Whether a TCP event (`kind`) of the socket `sk` is to be recorded. Most
/// come in softirq (a segment arrived, a timer fired), where the current
/// task is whichever was interrupted: with a filter set, such an event is
/// kept if its socket's connect, accept or listen passed the filter
/// ([`remember_sock`]), if it is the birth of a connection to a port whose
/// listen passed it (`born_on`: the new socket's local port when its
/// state leaves LISTEN; it is then remembered), or if the current task
/// passes it (a change made by the owner's own call: connect, close).
#[inline(always)]
pub fn should_trace_sock(kind: EventKind, pid_tgid: u64, sk: u64, born_on: Option<u16>) -> bool {
    let mask = unsafe { read_volatile(&EVENT_MASK) };
    if mask & kind.bit() == 0 {
        return false;
    }
    if !filtering() {
        return true;
    }
    if unsafe { TRACED_SOCKS.get(&sk) }.is_some() {
        return true;
    }
    if let Some(port) = born_on
        && unsafe { TRACED_PORTS.get(&port) }.is_some()
    {
        let _ = TRACED_SOCKS.insert(&sk, &1, 0);
        return true;
    }
    should_trace(kind, pid_tgid)
}

/// Notes that `sk`'s owner passed the filters (a call of it was recorded),
/// when a filter is set (see [`should_trace_sock`]).
#[inline(always)]
pub fn remember_sock(sk: u64) {
    if sk != 0 && filtering() {
        let _ = TRACED_SOCKS.insert(&sk, &1, 0);
    }
}

/// Notes that a listen on local port `port` passed the filters.
#[inline(always)]
pub fn remember_port(port: u16) {
    if port != 0 && filtering() {
        let _ = TRACED_PORTS.insert(&port, &1, 0);
    }
}

/// Forgets `sk` at the end of its life (TCP_CLOSE): its address may be
/// reused by a socket of anyone.
#[inline(always)]
pub fn forget_sock(sk: u64) {
    if filtering() {
        let _ = TRACED_SOCKS.remove(&sk);
    }
}
