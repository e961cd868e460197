//! Messages on kernels with neither the `sock_*_length` tracepoints nor
//! fexit, through kprobes, as the seed's sockstat does:
//!
//! ```c
//! int sock_sendmsg(struct socket *sock, struct msghdr *msg);            /* net/socket.c */
//! int sock_recvmsg(struct socket *sock, struct msghdr *msg, int flags); /* net/socket.c */
//! ```
//!
//! A kprobe sees the arguments and a kretprobe the return value, so the
//! entry saves the socket by thread (`MSG_PENDING`) for the return to use.

use aya_ebpf::{
    macros::{kprobe, kretprobe},
    programs::{ProbeContext, RetProbeContext},
};
use sockrec_common::EventKind;

use crate::{
    filter::{current_pid_tgid, should_trace},
    message::{finish_pending, save_pending},
};

#[inline(always)]
fn entry(ctx: &ProbeContext, kind: EventKind) -> u32 {
    let pid_tgid = current_pid_tgid();
    if !should_trace(kind, pid_tgid) {
        return 0;
    }
    let sock: u64 = ctx.arg(0).unwrap_or(0);
    let flags: u64 = if kind == EventKind::Recv {
        ctx.arg(2).unwrap_or(0)
    } else {
        0
    };
    save_pending(kind, pid_tgid, sock, flags as u32);
    0
}

#[inline(always)]
fn exit(ctx: &RetProbeContext, kind: EventKind) -> u32 {
    finish_pending(kind, current_pid_tgid(), ctx.ret::<i32>());
    0
}

#[kprobe]
pub fn kprobe_sock_sendmsg(ctx: ProbeContext) -> u32 {
    entry(&ctx, EventKind::Send)
}

#[kretprobe]
pub fn kretprobe_sock_sendmsg(ctx: RetProbeContext) -> u32 {
    exit(&ctx, EventKind::Send)
}

#[kprobe]
pub fn kprobe_sock_recvmsg(ctx: ProbeContext) -> u32 {
    entry(&ctx, EventKind::Recv)
}

#[kretprobe]
pub fn kretprobe_sock_recvmsg(ctx: RetProbeContext) -> u32 {
    exit(&ctx, EventKind::Recv)
}
