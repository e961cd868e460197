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

/// TCP states (include/net/tcp_states.h) the filter tells apart.
const TCP_FIN_WAIT1: u8 = 4;
const TCP_CLOSE: u8 = sockrec_common::TCP_CLOSE;
const TCP_LAST_ACK: u8 = 9;
const TCP_LISTEN: u8 = 10;

/// Whether a TCP event (`kind`) of the socket `sk`, a state change
/// (`states`: old, new) or a retransmit (None), is to be recorded. Most
/// come in softirq (a segment arrived, a timer fired), where the current
/// task is whichever was interrupted: on loopback, often another process
/// whose own send ran the softirq that took this socket's segment. So with
/// a filter set, a socket's owner is decided once, when its connection
/// begins, and remembered by its `struct sock` address:
/// - leaving CLOSE (connect: SYN_SENT; listen: LISTEN) is done by the
///   owner's own call (tcp_v4_connect(), inet_csk_listen_start()), so the
///   current task decides;
/// - leaving LISTEN for any state but CLOSE is a connection's birth
///   (inet_csk_clone_lock() in net/ipv4/inet_connection_sock.c sets the
///   clone's first state; the clone starts with its listener's LISTEN),
///   kept if a listen on its local port (`born_on`) passed the filter;
/// - any other change, or a retransmit, is kept if the socket was
///   remembered so, or by a connect, accept or listen that passed the
///   filter ([`remember_sock`]).
///
/// Deciding at the beginning also forgets what a freed socket left: a
/// `struct sock` address is reused by sockets of anyone, and a socket that
/// never reaches TCP_CLOSE (bound and closed, or not TCP) is never
/// forgotten otherwise ([`forget_sock`]).
///
/// A socket whose beginning was not seen (it began before the recording)
/// is kept only for the changes its owner's own calls make, in its
/// context: close() or shutdown() (FIN_WAIT1, LAST_ACK, through
/// tcp_close_state() in net/ipv4/tcp.c) and a listener's close.
#[inline(always)]
pub fn should_trace_sock(
    kind: EventKind,
    pid_tgid: u64,
    sk: u64,
    states: Option<(u8, u8)>,
    born_on: Option<u16>,
) -> bool {
    let mask = unsafe { read_volatile(&EVENT_MASK) };
    if mask & kind.bit() == 0 {
        return false;
    }
    if !filtering() {
        return true;
    }
    let keep = match states {
        Some((TCP_CLOSE, new)) if new != TCP_CLOSE => Some(should_trace(kind, pid_tgid)),
        Some((TCP_LISTEN, new)) if new != TCP_CLOSE => {
            Some(born_on.is_some_and(|port| unsafe { TRACED_PORTS.get(&port) }.is_some()))
        }
        _ => None,
    };
    if let Some(keep) = keep {
        if keep {
            let _ = TRACED_SOCKS.insert(&sk, &1, 0);
        } else {
            let _ = TRACED_SOCKS.remove(&sk);
        }
        return keep;
    }
    if unsafe { TRACED_SOCKS.get(&sk) }.is_some() {
        return true;
    }
    match states {
        Some((_, TCP_FIN_WAIT1 | TCP_LAST_ACK)) | Some((TCP_LISTEN, TCP_CLOSE)) => {
            should_trace(kind, pid_tgid)
        }
        _ => false,
    }
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
