//! Messages on kernels without the `sock_*_length` tracepoints (before 6.3)
//! that allow fexit (BPF trampolines, 5.5+):
//!
//! ```c
//! int sock_sendmsg(struct socket *sock, struct msghdr *msg);            /* net/socket.c */
//! int sock_recvmsg(struct socket *sock, struct msghdr *msg, int flags); /* net/socket.c */
//! ```
//!
//! fexit sees the arguments and the return value together, so one program
//! per direction is enough. These are the functions the seed's sockstat
//! kprobes (`kprobe:sock_sendmsg`, `kprobe:sock_recvmsg`).

use aya_ebpf::{macros::fexit, programs::FExitContext};
use sockrec_common::EventKind;

use crate::{
    config::FIELDS,
    filter::{current_pid_tgid, should_trace},
    message::emit_from_sock,
    socket,
};

#[fexit(function = "sock_sendmsg")]
pub fn fexit_sock_sendmsg(ctx: FExitContext) -> i32 {
    let pid_tgid = current_pid_tgid();
    if should_trace(EventKind::Send, pid_tgid) {
        let sk = socket::sock_of_socket(ctx.arg(0), &FIELDS);
        emit_from_sock(EventKind::Send, pid_tgid, sk, ctx.arg(2), 0);
    }
    0
}

#[fexit(function = "sock_recvmsg")]
pub fn fexit_sock_recvmsg(ctx: FExitContext) -> i32 {
    let pid_tgid = current_pid_tgid();
    if should_trace(EventKind::Recv, pid_tgid) {
        let sk = socket::sock_of_socket(ctx.arg(0), &FIELDS);
        emit_from_sock(EventKind::Recv, pid_tgid, sk, ctx.arg(3), ctx.arg(2));
    }
    0
}
