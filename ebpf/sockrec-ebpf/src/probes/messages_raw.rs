//! Messages from the raw form of the `sock_send_length` and
//! `sock_recv_length` tracepoints (Linux 6.3+), the plan's second way for
//! send and recv:
//!
//! ```c
//! TRACE_EVENT(sock_send_length, TP_PROTO(struct sock *sk, int ret, int flags), ...)
//! DEFINE_EVENT(sock_msg_length, sock_recv_length, ...)   /* include/trace/events/sock.h */
//! ```
//!
//! The same events as the tracepoints (messages_tracepoint.rs), but the
//! program gets the `TP_PROTO` arguments: no trace record is formatted for
//! us, which saves the kernel's perf_trace_* work on every message; family
//! and protocol are read from the socket instead.

use aya_ebpf::{macros::raw_tracepoint, programs::RawTracePointContext};

use crate::{
    filter::{current_pid_tgid, should_trace},
    message::{emit_batched, fill_message, message_kind},
    socket,
};

#[inline(always)]
fn raw_message<const SEND: bool>(ctx: &RawTracePointContext) -> u32 {
    let kind = message_kind::<SEND>();
    let pid_tgid = current_pid_tgid();
    if should_trace(kind, pid_tgid) {
        let (sk, ret, flags): (u64, i32, i32) = (ctx.arg(0), ctx.arg(1), ctx.arg(2));
        let sock = socket::describe_sock(sk);
        let inode = socket::inode_of_sock(sk);
        emit_batched(kind, |ev| {
            fill_message(ev, kind, pid_tgid, ret, flags, sock, inode)
        });
    }
    0
}

#[raw_tracepoint(tracepoint = "sock_send_length")]
pub fn raw_sock_send_length(ctx: RawTracePointContext) -> u32 {
    raw_message::<true>(&ctx)
}

#[raw_tracepoint(tracepoint = "sock_recv_length")]
pub fn raw_sock_recv_length(ctx: RawTracePointContext) -> u32 {
    raw_message::<false>(&ctx)
}
