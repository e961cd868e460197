//! Per-message send and receive, from the `sock:sock_send_length` and
//! `sock:sock_recv_length` tracepoints (Linux 6.3+, include/trace/events/sock.h).
//!
//! They fire in `sock_sendmsg_nosec()` / `sock_recvmsg_nosec()` (net/socket.c),
//! so they see what the seed's `kprobe:sock_sendmsg` / `kprobe:sock_recvmsg`
//! see: send, sendto, sendmsg, write on a socket and their receive twins.
//!
//! Record layout (`sock_msg_length` class): common header (8), `void *sk`
//! (8), `__u16 family` (16), `__u16 protocol` (18), `int ret` (20), `int
//! flags` (24); `ret` is the byte count or -errno.

use aya_ebpf::{EbpfContext, macros::tracepoint, programs::TracePointContext};
use sockrec_common::{EventKind, FLAG_SOCK_FROM_KERNEL};

use crate::{
    config::{current_pid_tgid, should_trace},
    emit, kernel,
    syscalls::fill_task,
};

#[inline(always)]
fn message(ctx: &TracePointContext, kind: EventKind) -> u32 {
    let pid_tgid = current_pid_tgid();
    if !should_trace(kind, pid_tgid) {
        return 0;
    }
    let Some(mut entry) = emit::reserve() else {
        return 0;
    };
    // SAFETY: fill_task writes every field but `addr`, which is only read up
    // to `addr_len` (0 here).
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill_task(ev, kind, pid_tgid);
    let p = ctx.as_ptr() as *const u8;
    unsafe {
        let sk = *(p.add(8) as *const u64);
        ev.family = *(p.add(16) as *const u16);
        ev.protocol = *(p.add(18) as *const u16);
        ev.ret = *(p.add(20) as *const i32) as i64;
        ev.call_flags = *(p.add(24) as *const i32) as u32;
        ev.sock_type = kernel::sock_type(sk);
    }
    ev.flags = FLAG_SOCK_FROM_KERNEL;
    emit::submit(entry);
    0
}

#[tracepoint]
pub fn sock_send_length(ctx: TracePointContext) -> u32 {
    message(&ctx, EventKind::Send)
}

#[tracepoint]
pub fn sock_recv_length(ctx: TracePointContext) -> u32 {
    message(&ctx, EventKind::Recv)
}
