//! socket, socketpair, bind, connect, accept, accept4 and listen, from the syscall
//! tracepoints (`syscalls:sys_enter_*` / `syscalls:sys_exit_*`).
//!
//! Entry leaves the call for its thread (pending.rs; the seed's soconnect
//! keeps `@start[tid]`); exit pairs with it and emits one event with the
//! return value and latency. The socket's family, type and protocol
//! are read from the kernel (so a socket made before recording started is
//! described right): for bind, connect and accept at entry, so that a call
//! still blocked when recording stops is described too; for a new socket
//! (socket, socketpair, the accepted one) at exit, once it exists.
//!
//! ```c
//! long sys_socket(int family, int type, int protocol);                        /* net/socket.c */
//! long sys_socketpair(int family, int type, int protocol, int __user *usockvec);
//! long sys_bind(int fd, struct sockaddr __user *umyaddr, int addrlen);
//! long sys_connect(int fd, struct sockaddr __user *uservaddr, int addrlen);
//! long sys_accept(int fd, struct sockaddr __user *upeer_sockaddr, int __user *upeer_addrlen);
//! long sys_accept4(int fd, struct sockaddr __user *upeer_sockaddr, int __user *upeer_addrlen, int flags);
//! long sys_listen(int fd, int backlog);
//! ```
//!
//! Each event also carries the socket's inode (socket.rs), and bind,
//! connect, accept/accept4 and listen its `struct sock` and both ends as
//! the exit finds them (the local port a connect was given, an accepted
//! socket's local address and its client).
//!
//! The records' layout (`struct syscall_trace_enter` / `_exit`) is read in
//! syscall_record.rs.

use aya_ebpf::{
    helpers::generated::{bpf_ktime_get_boot_ns, bpf_probe_read_user},
    macros::tracepoint,
    programs::TracePointContext,
};
use core::ffi::c_void;
use sockrec_common::{ADDR_CAP, EventKind, PendingCall, SocketEvent};

use crate::{
    config::task_btf,
    emit,
    filter::{remember_port, remember_sock, should_trace},
    pending, socket,
    syscall_record::arg,
    task::{BtfTask, HelperTask, Task, fill_task},
};

/// Every field of a call's event: who, where and when from `task`, the
/// rest zeroed until known.
#[inline(always)]
fn fill_call<T: Task>(ev: &mut SocketEvent, kind: EventKind, task: T, pid_tgid: u64) {
    fill_task!(&mut *ev, task, pid_tgid);
    ev.call_flags = 0;
    ev.kind = kind as u8;
    ev.latency_ns = 0;
    ev.ret = 0;
    ev.fd = -1;
    ev.fd2 = -1;
    // Volatile: LLVM merges plain zero stores to neighbouring fields into
    // a `memset` call, which the BPF object implements one byte per loop
    // turn (see `copy_event`).
    unsafe {
        use core::ptr::write_volatile;
        write_volatile(&mut ev.flags, 0);
        write_volatile(&mut ev.family, 0);
        write_volatile(&mut ev.sock_type, 0);
        write_volatile(&mut ev.protocol, 0);
        write_volatile(&mut ev.addr_len, 0);
        write_volatile(&mut ev._pad, 0);
        // inode .. the end: what connections add, eight bytes at a time.
        const FROM: usize = core::mem::offset_of!(SocketEvent, inode) / 8;
        const _: () = assert!(core::mem::offset_of!(SocketEvent, inode) % 8 == 0);
        let words = (ev as *mut SocketEvent).cast::<u64>();
        for i in FROM..size_of::<SocketEvent>() / 8 {
            write_volatile(words.add(i), 0);
        }
    }
}

/// Copies `len` bytes of a user sockaddr into `ev.addr` (at most [`ADDR_CAP`]).
#[inline(always)]
fn read_user_sockaddr(ev: &mut SocketEvent, ptr: u64, len: u64) {
    if ptr == 0 {
        return;
    }
    let len = if len > ADDR_CAP as u64 {
        ADDR_CAP as u64
    } else {
        len
    };
    if len == 0 {
        return;
    }
    let r = unsafe {
        bpf_probe_read_user(
            ev.addr.as_mut_ptr().cast::<c_void>(),
            len as u32,
            ptr as *const c_void,
        )
    };
    if r == 0 {
        ev.addr_len = len as u16;
    }
}

/// `SOCK_TYPE_MASK` (include/linux/net.h): the rest of socket(2)'s `type`
/// is flags (SOCK_NONBLOCK, SOCK_CLOEXEC).
const SOCK_TYPE_MASK: u64 = 0xf;

#[inline(always)]
fn enter<T: Task, const SLOTS: bool>(ctx: &TracePointContext, kind: EventKind) -> u32 {
    let task = T::current();
    let pid_tgid = task.pid_tgid();
    if !kind.is_call() || !should_trace(kind, pid_tgid) {
        return 0;
    }
    let Some(call) = pending::claim::<SLOTS>(pid_tgid) else {
        emit::count_lost();
        return 0;
    };
    fill_call(&mut call.event, kind, task, pid_tgid);
    // Volatile, as in `fill_call`: no `memset` call.
    unsafe {
        core::ptr::write_volatile(&mut call.user_ptr, 0);
        core::ptr::write_volatile(&mut call.user_len_ptr, 0);
    }
    let ev = &mut call.event;
    match kind {
        EventKind::Socket | EventKind::Socketpair => {
            // Kept in case the new socket cannot be looked up at exit.
            ev.family = arg(ctx, 0) as u16;
            let ty = arg(ctx, 1);
            ev.sock_type = (ty & SOCK_TYPE_MASK) as u16;
            ev.call_flags = (ty & !SOCK_TYPE_MASK) as u32;
            ev.protocol = arg(ctx, 2) as u16;
            if kind == EventKind::Socketpair {
                call.user_ptr = arg(ctx, 3);
            }
        }
        EventKind::Bind | EventKind::Connect => {
            ev.fd = arg(ctx, 0) as i32;
            // Its `struct sock`, for its ends at exit.
            call.user_ptr = socket::describe_fd(ev, task, ev.fd as i64).unwrap_or(0);
            // What the caller asked for, read now while it is certain to be there.
            read_user_sockaddr(ev, arg(ctx, 1), arg(ctx, 2));
        }
        EventKind::Listen => {
            ev.fd = arg(ctx, 0) as i32;
            call.user_ptr = socket::describe_fd(ev, task, ev.fd as i64).unwrap_or(0);
            ev.backlog = arg(ctx, 1) as u32;
        }
        EventKind::Accept | EventKind::Accept4 => {
            ev.fd = arg(ctx, 0) as i32;
            // The listener; a successful accept describes the new socket at exit.
            socket::describe_fd(ev, task, ev.fd as i64);
            call.user_ptr = arg(ctx, 1);
            call.user_len_ptr = arg(ctx, 2);
            if kind == EventKind::Accept4 {
                ev.call_flags = arg(ctx, 3) as u32;
            }
        }
        EventKind::Send
        | EventKind::Recv
        | EventKind::TcpState
        | EventKind::TcpRetransmit
        | EventKind::Close => {}
    }
    if !pending::save::<SLOTS>(pid_tgid, call) {
        emit::count_lost();
    }
    0
}

#[inline(always)]
fn exit<T: Task, const SLOTS: bool>(ctx: &TracePointContext, kind: EventKind) -> u32 {
    let task = T::current();
    let pid_tgid = task.pid_tgid();
    let Some(call) = pending::find::<SLOTS>(pid_tgid) else {
        return 0;
    };
    if call.event.kind != kind as u8 {
        // A stale entry: its thread died inside the call (no exit fired) and
        // the tid was reused. Drop it rather than pair it with this exit.
        pending::release::<SLOTS>(pid_tgid, call);
        return 0;
    }
    let now = unsafe { bpf_ktime_get_boot_ns() };
    let ret = arg(ctx, 0) as i64;
    if let Some(mut entry) = emit::reserve::<SocketEvent>() {
        // SAFETY: the entry is a whole SocketEvent's room, written at once.
        let ev = unsafe { copy_event(entry.as_mut_ptr(), &call.event) };
        ev.ret = ret;
        ev.latency_ns = now.wrapping_sub(ev.time_ns);
        finish_call(ev, task, call, ret);
        emit::submit(entry);
    }
    pending::release::<SLOTS>(pid_tgid, call);
    0
}

/// Copies `src` into `dst` eight bytes at a time. A plain copy
/// (`entry.write(call.event)`) became a call to the BPF object's
/// `memmove`, which moves one byte per loop turn: 200 turns, ~1600
/// instructions, on every call's exit (`bpftool prog dump xlated`).
/// Volatile accesses keep LLVM from turning this loop back into one.
///
/// # Safety
/// `dst` must be valid for writing a `SocketEvent`, and 8-byte aligned
/// (ring buffer records are).
#[inline(always)]
unsafe fn copy_event<'a>(dst: *mut SocketEvent, src: &SocketEvent) -> &'a mut SocketEvent {
    const WORDS: usize = size_of::<SocketEvent>() / 8;
    const _: () = assert!(size_of::<SocketEvent>() % 8 == 0);
    let (d, s) = (dst.cast::<u64>(), (src as *const SocketEvent).cast::<u64>());
    for i in 0..WORDS {
        unsafe { core::ptr::write_volatile(d.add(i), core::ptr::read_volatile(s.add(i))) };
    }
    unsafe { &mut *dst }
}

/// What only the exit can tell: the new fds, the socket, accept's peer,
/// the ends a bind, connect or listen left the socket with.
#[inline(always)]
fn finish_call<T: Task>(ev: &mut SocketEvent, task: T, call: &PendingCall, ret: i64) {
    let kind = ev.kind;
    if kind == EventKind::Bind as u8
        || kind == EventKind::Connect as u8
        || kind == EventKind::Listen as u8
    {
        // connect has picked the local port by now, even one that fails
        // or goes on in the background (EINPROGRESS): tcp_v4_connect()
        // binds it before sending the SYN (net/ipv4/tcp_ipv4.c).
        let sk = call.user_ptr;
        if sk != 0 {
            ev.sock = sk;
            socket::ends_of_sock(ev, sk);
            remember_sock(sk);
            if kind == EventKind::Listen as u8 && ret == 0 {
                remember_port(ev.lport);
            }
        }
    } else if kind == EventKind::Socket as u8 {
        if ret >= 0 {
            ev.fd = ret as i32;
        }
        socket::describe_fd(ev, task, ret);
    } else if kind == EventKind::Socketpair as u8 {
        if ret == 0 && call.user_ptr != 0 {
            let mut sv = [-1i32; 2];
            let r = unsafe {
                bpf_probe_read_user(
                    sv.as_mut_ptr().cast::<c_void>(),
                    8,
                    call.user_ptr as *const c_void,
                )
            };
            if r == 0 {
                ev.fd = sv[0];
                ev.fd2 = sv[1];
                socket::describe_fd(ev, task, sv[0] as i64);
            }
        }
    } else if (kind == EventKind::Accept as u8 || kind == EventKind::Accept4 as u8) && ret >= 0 {
        // accept/accept4 succeeded: the new socket and its peer.
        ev.fd2 = ret as i32;
        let has_buffer = call.user_ptr != 0 && call.user_len_ptr != 0;
        // The new socket: its own inode, `struct sock` and ends (family,
        // type and protocol are the listener's: do_accept() gives it the
        // listener's type and ops, net/socket.c, and the protocol's accept
        // clones the listener's sock, sk_clone_lock() in net/core/sock.c;
        // but MPTCP's accept may hand back a plain TCP socket).
        let sk = socket::describe_fd(ev, task, ret);
        if let Some(sk) = sk {
            ev.sock = sk;
            socket::ends_of_sock(ev, sk);
            remember_sock(sk);
        }
        if has_buffer {
            let mut len: i32 = 0;
            let r = unsafe {
                bpf_probe_read_user(
                    (&mut len as *mut i32).cast::<c_void>(),
                    4,
                    call.user_len_ptr as *const c_void,
                )
            };
            if r == 0 && len > 0 {
                read_user_sockaddr(ev, call.user_ptr, len as u64);
            }
        } else if let Some(sk) = sk {
            socket::peer_of_sock(ev, sk);
        }
    }
}

macro_rules! syscall_probes {
    ($($enter:ident, $exit:ident, $enter_hash:ident, $exit_hash:ident => $kind:expr;)*) => {$(
        syscall_probes!(@one $enter, $exit, true, $kind);
        syscall_probes!(@one $enter_hash, $exit_hash, false, $kind);
    )*};
    (@one $enter:ident, $exit:ident, $slots:expr, $kind:expr) => {
        #[tracepoint]
        pub fn $enter(ctx: TracePointContext) -> u32 {
            if task_btf() {
                enter::<BtfTask, $slots>(&ctx, $kind)
            } else {
                enter::<HelperTask, $slots>(&ctx, $kind)
            }
        }

        #[tracepoint]
        pub fn $exit(ctx: TracePointContext) -> u32 {
            if task_btf() {
                exit::<BtfTask, $slots>(&ctx, $kind)
            } else {
                exit::<HelperTask, $slots>(&ctx, $kind)
            }
        }
    };
}

// One entry and one exit program per syscall, named as the tracepoints,
// keeping calls in progress in the slot array (Linux 5.12+); and the same
// as `..._hash`, with the hash map, for older kernels (pending.rs).
syscall_probes! {
    sys_enter_socket, sys_exit_socket, sys_enter_socket_hash, sys_exit_socket_hash => EventKind::Socket;
    sys_enter_socketpair, sys_exit_socketpair, sys_enter_socketpair_hash, sys_exit_socketpair_hash => EventKind::Socketpair;
    sys_enter_bind, sys_exit_bind, sys_enter_bind_hash, sys_exit_bind_hash => EventKind::Bind;
    sys_enter_connect, sys_exit_connect, sys_enter_connect_hash, sys_exit_connect_hash => EventKind::Connect;
    sys_enter_accept, sys_exit_accept, sys_enter_accept_hash, sys_exit_accept_hash => EventKind::Accept;
    sys_enter_accept4, sys_exit_accept4, sys_enter_accept4_hash, sys_exit_accept4_hash => EventKind::Accept4;
    sys_enter_listen, sys_exit_listen, sys_enter_listen_hash, sys_exit_listen_hash => EventKind::Listen;
}
