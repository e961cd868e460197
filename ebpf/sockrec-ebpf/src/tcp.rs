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

use aya_ebpf::helpers::generated::bpf_skc_to_tcp_sock;
use sockrec_common::{
    AF_INET, EventKind, FLAG_ENDS, FLAG_SOCK_FROM_KERNEL, SocketEvent, TCP_CLOSE,
};

use crate::{
    config::{FIELDS, task_btf},
    emit,
    fields::{btf_u8, btf_u16, btf_u32, btf_u64, read, read16},
    filter::{current_pid_tgid, filtering, forget_sock, should_trace_sock},
    socket,
    task::{BtfTask, HelperTask, Task, fill_task},
};

/// `IPPROTO_TCP`: `sock:inet_sock_set_state` fires for every protocol
/// that keeps `sk_state` (DCCP, SCTP, MPTCP too); tcpstates keeps TCP only.
const IPPROTO_TCP: u16 = 6;
/// `TCP_LISTEN` (include/net/tcp_states.h).
const TCP_LISTEN: u8 = 10;

/// Emits a `kind` event (TcpState or TcpRetransmit) for `sk`. `states` is
/// (old, new) for a state change; for a retransmit, None: the socket's
/// current state is read. `BTF`: `sk` is a pointer the verifier knows the
/// type of (a `tp_btf` argument), read with plain loads (see
/// [`sock_facts_btf`]); otherwise with `bpf_probe_read_kernel`.
#[inline(always)]
pub fn emit_tcp<const BTF: bool>(kind: EventKind, sk: u64, states: Option<(u8, u8)>) {
    let pid_tgid = current_pid_tgid();
    let fs = &FIELDS;
    // A connection's birth: a socket cloned from its listener (whose
    // LISTEN state it starts with) takes its first state. Its local port
    // is the listener's (`skc_num`, host order, in sock_common).
    let born_on = match states {
        Some((TCP_LISTEN, new)) if new != TCP_CLOSE && filtering() => Some(if BTF {
            btf_u16(sk, &fs.sk_num)
        } else {
            read(sk, &fs.sk_num).unwrap_or(0) as u16
        }),
        _ => None,
    };
    if !should_trace_sock(kind, pid_tgid, sk, states, born_on) {
        return;
    }
    let (family, sock_type, protocol) = if BTF {
        (
            btf_u16(sk, &fs.sk_family),
            btf_u16(sk, &fs.sk_type),
            btf_u16(sk, &fs.sk_protocol),
        )
    } else {
        socket::describe_sock(sk)
    };
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
    if BTF {
        sock_facts_btf(ev, sk, states.is_some());
    } else {
        ev.inode = socket::inode_of_sock(sk);
        socket::ends_of_sock(ev, sk);
        if states.is_some() {
            // `sk` is a `struct tcp_sock` (protocol 6).
            ev.tx_bytes = read(sk, &fs.tcp_bytes_acked).unwrap_or(0);
            ev.rx_bytes = read(sk, &fs.tcp_bytes_received).unwrap_or(0);
        } else {
            ev.state = read(sk, &fs.sk_state).unwrap_or(0) as u8;
        }
    }
    if let Some((old, new)) = states {
        ev.old_state = old;
        ev.state = new;
        if new == TCP_CLOSE {
            forget_sock(sk);
        }
    }
    emit::submit(entry);
}

/// The socket's inode, ends, and (`change`) byte counts or else state, with
/// plain loads from the BTF-typed `sk`, as `socket::inode_of_sock`,
/// `socket::ends_of_sock` and the helper path above read them: a dozen
/// `bpf_probe_read_kernel` calls of 25-40 ns each, ~550 ns per event in
/// all on the TCP loop (`cargo xtask bench kernel`). What lies beyond
/// `struct sock` (`inet_sport`, the byte counts) is read from the
/// `struct tcp_sock *` that `bpf_skc_to_tcp_sock()` (5.9+) hands back
/// typed; an IPv6 address, 16 bytes, with one helper read each.
#[inline(always)]
fn sock_facts_btf(ev: &mut SocketEvent, sk: u64, change: bool) {
    let fs = &FIELDS;
    let socket = btf_u64(sk, &fs.sk_socket);
    let file = btf_u64(socket, &fs.socket_file);
    let inode = btf_u64(file, &fs.file_inode);
    ev.inode = btf_u64(inode, &fs.inode_ino);
    if !change {
        ev.state = btf_u8(sk, &fs.sk_state);
    }
    let tp = unsafe { bpf_skc_to_tcp_sock(sk as *mut _) } as u64;
    if tp == 0 {
        return;
    }
    if change {
        ev.tx_bytes = btf_u64(tp, &fs.tcp_bytes_acked);
        ev.rx_bytes = btf_u64(tp, &fs.tcp_bytes_received);
    }
    // `inet_sock` is where `tcp_sock` begins (through
    // `inet_connection_sock`), so inet_sport's offset holds in both.
    ev.lport = u16::from_be(btf_u16(tp, &fs.inet_sport));
    ev.rport = u16::from_be(btf_u16(sk, &fs.sk_dport));
    if ev.family == AF_INET {
        let (l, r) = (btf_u32(sk, &fs.sk_rcv_saddr), btf_u32(sk, &fs.sk_daddr));
        ev.laddr[..4].copy_from_slice(&l.to_le_bytes());
        ev.raddr[..4].copy_from_slice(&r.to_le_bytes());
    } else {
        let (Some(l), Some(r)) = (read16(sk, &fs.sk_v6_rcv_saddr), read16(sk, &fs.sk_v6_daddr))
        else {
            return;
        };
        ev.laddr = l;
        ev.raddr = r;
    }
    ev.flags |= FLAG_ENDS;
}
