//! Messages from the BTF-typed form of the `sock_send_length` and
//! `sock_recv_length` tracepoints (`tp_btf`, Linux 6.3+), the plan's first
//! way for send and recv:
//!
//! ```c
//! TRACE_EVENT(sock_send_length, TP_PROTO(struct sock *sk, int ret, int flags), ...)
//! DEFINE_EVENT(sock_msg_length, sock_recv_length, ...)   /* include/trace/events/sock.h */
//! ```
//!
//! The same events as the raw tracepoints (messages_raw.rs), but the
//! arguments come typed, so everything is read with plain loads the verifier
//! checks against BTF (`fields::btf_*`) instead of helpers: the socket's family,
//! type, protocol and inode, and the task's pid, tid, uid, cgroup id and comm
//! ([`BtfTask`]). Helper calls cost 25-75 ns each in this VM
//! (docs/design.md); this program makes three (the task, the time, the CPU,
//! which the JIT inlines).

use aya_ebpf::{macros::btf_tracepoint, programs::BtfTracePointContext};
use sockrec_common::FLAG_SOCK_FROM_KERNEL;

use crate::{
    config::FIELDS,
    fields::{btf_u16, btf_u64},
    filter::should_trace,
    message::{emit_batched, message_kind},
    task::{BtfTask, Task, fill_task},
};

#[inline(always)]
fn message<const SEND: bool>(ctx: &BtfTracePointContext) -> i32 {
    let kind = message_kind::<SEND>();
    let fs = &FIELDS;
    let task = BtfTask::current();
    let pid_tgid = task.pid_tgid();
    if !should_trace(kind, pid_tgid) {
        return 0;
    }
    let sk: u64 = ctx.arg(0);
    let ret: i32 = ctx.arg(1);
    let flags: i32 = ctx.arg(2);
    emit_batched(kind, |ev| {
        fill_task!(&mut *ev, task, pid_tgid);
        ev.ret = ret;
        ev.call_flags = flags as u32;
        ev.kind = kind as u8;
        ev.flags = FLAG_SOCK_FROM_KERNEL;
        ev.family = btf_u16(sk, &fs.sk_family) as u8;
        ev.sock_type = btf_u16(sk, &fs.sk_type) as u8;
        ev.protocol = btf_u16(sk, &fs.sk_protocol);
        // sk->sk_socket->file->f_inode->i_ino: four plain loads, each
        // checked against BTF; a NULL on the way (no file yet, or
        // orphaned) reads as 0 all the way down.
        let socket = btf_u64(sk, &fs.sk_socket);
        let file = btf_u64(socket, &fs.socket_file);
        let inode = btf_u64(file, &fs.file_inode);
        ev.inode = btf_u64(inode, &fs.inode_ino) as u32;
    });
    0
}

#[btf_tracepoint(function = "sock_send_length")]
pub fn btf_sock_send_length(ctx: BtfTracePointContext) -> i32 {
    message::<true>(&ctx)
}

#[btf_tracepoint(function = "sock_recv_length")]
pub fn btf_sock_recv_length(ctx: BtfTracePointContext) -> i32 {
    message::<false>(&ctx)
}
