//! What the TCP ways share: one [`SocketEvent`] for a TCP socket's state
//! change or retransmit, read from its `struct sock` as BCC's tcpstates and
//! tcpretrans read theirs (both ends, family, state; at a state change the
//! session's byte counts, `tcp_sock.bytes_acked` and `bytes_received`, as
//! tcplife reports at TCP_CLOSE).
//!
//! The task fields are those of the current task, which for changes made
//! in softirq (a segment arrived, a timer fired) is whichever task was
//! interrupted; docs/capture-format.md says so, and the reports attribute
//! a connection to the process of its connect or accept (by `sock`).
//!
//! A leaf: imports config.rs, emit.rs, fields.rs, filter.rs, socket.rs and task.rs.

use sockrec_common::{EventKind, FLAG_SOCK_FROM_KERNEL, SocketEvent, TCP_CLOSE};

use crate::{
    config::{FIELDS, task_btf},
    emit,
    fields::read,
    filter::{current_pid_tgid, forget_sock, should_trace_sock},
    socket,
    task::{BtfTask, HelperTask, Task, fill_task},
};

/// `IPPROTO_TCP`: `sock:inet_sock_set_state` fires for every protocol
/// that keeps `sk_state` (DCCP, SCTP, MPTCP too); tcpstates keeps TCP only.
const IPPROTO_TCP: u16 = 6;

/// Emits a `kind` event (TcpState or TcpRetransmit) for `sk`. `states` is
/// (old, new) for a state change; for a retransmit, None: the socket's
/// current state is read.
#[inline(always)]
pub fn emit_tcp(kind: EventKind, sk: u64, states: Option<(u8, u8)>) {
    let pid_tgid = current_pid_tgid();
    if !should_trace_sock(kind, pid_tgid, sk) {
        return;
    }
    let fs = &FIELDS;
    let (family, sock_type, protocol) = socket::describe_sock(sk);
    if protocol != IPPROTO_TCP {
        return;
    }
    let Some(mut entry) = emit::reserve::<SocketEvent>() else {
        return;
    };
    let ev = entry.as_mut_ptr();
    // Every byte of the record is written: zeroed eight bytes at a time
    // (volatile, so no `memset` call: see syscalls.rs's `copy_event`).
    unsafe {
        let words = ev.cast::<u64>();
        for i in 0..size_of::<SocketEvent>() / 8 {
            core::ptr::write_volatile(words.add(i), 0);
        }
    }
    // SAFETY: the entry is a whole, zeroed SocketEvent.
    let ev = unsafe { &mut *ev };
    if task_btf() {
        fill_task!(&mut *ev, BtfTask::current(), pid_tgid);
    } else {
        fill_task!(&mut *ev, HelperTask, pid_tgid);
    }
    ev.kind = kind as u8;
    ev.fd = -1;
    ev.fd2 = -1;
    ev.flags = FLAG_SOCK_FROM_KERNEL;
    ev.family = family;
    ev.sock_type = sock_type;
    ev.protocol = protocol;
    ev.sock = sk;
    ev.inode = socket::inode_of_sock(sk);
    socket::ends_of_sock(ev, sk);
    match states {
        Some((old, new)) => {
            ev.old_state = old;
            ev.state = new;
            // `sk` is a `struct tcp_sock` (protocol 6).
            ev.tx_bytes = read(sk, &fs.tcp_bytes_acked).unwrap_or(0);
            ev.rx_bytes = read(sk, &fs.tcp_bytes_received).unwrap_or(0);
            if new == TCP_CLOSE {
                forget_sock(sk);
            }
        }
        None => ev.state = read(sk, &fs.sk_state).unwrap_or(0) as u8,
    }
    emit::submit(entry);
}
