//! Messages from the `sock:sock_send_length` and `sock:sock_recv_length`
//! tracepoints (Linux 6.3+), the plan's third way for send and recv:
//!
//! ```c
//! TRACE_EVENT(sock_send_length, TP_PROTO(struct sock *sk, int ret, int flags), ...)
//! DEFINE_EVENT(sock_msg_length, sock_recv_length, ...)   /* include/trace/events/sock.h */
//! ```
//!
//! They fire in `sock_sendmsg_nosec()` / `sock_recvmsg_nosec()` (net/socket.c),
//! so they see what the seed's `kprobe:sock_sendmsg` / `kprobe:sock_recvmsg`
//! see: send, sendto, sendmsg, write on a socket and their receive twins.
//!
//! Record layout (`sock_msg_length` class): common header (8), `void *sk`
//! (8), `__u16 family` (16), `__u16 protocol` (18), `int ret` (20), `int
//! flags` (24); `ret` is the byte count or -errno.

use aya_ebpf::{EbpfContext, macros::tracepoint, programs::TracePointContext};

use crate::{
    filter::{current_pid_tgid, should_trace},
    message::{emit_batched, fill_message, message_kind},
    socket,
};

#[inline(always)]
fn message<const SEND: bool>(ctx: &TracePointContext) -> u32 {
    let kind = message_kind::<SEND>();
    let pid_tgid = current_pid_tgid();
    if !should_trace(kind, pid_tgid) {
        return 0;
    }
    let p = ctx.as_ptr() as *const u8;
    // SAFETY: direct loads from the tracepoint record, within its size.
    let (sk, family, protocol, ret, flags) = unsafe {
        (
            *(p.add(8) as *const u64),
            *(p.add(16) as *const u16),
            *(p.add(18) as *const u16),
            *(p.add(20) as *const i32),
            *(p.add(24) as *const i32),
        )
    };
    // The record has family and protocol; only the type needs the socket.
    let sock = (family, socket::sock_type(sk), protocol);
    let inode = socket::inode_of_sock(sk);
    emit_batched(kind, |ev| {
        fill_message(ev, kind, pid_tgid, ret, flags, sock, inode)
    });
    0
}

#[tracepoint]
pub fn sock_send_length(ctx: TracePointContext) -> u32 {
    message::<true>(&ctx)
}

#[tracepoint]
pub fn sock_recv_length(ctx: TracePointContext) -> u32 {
    message::<false>(&ctx)
}
