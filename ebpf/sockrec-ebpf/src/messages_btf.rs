//! Messages from the BTF-typed form of the `sock_send_length` and
//! `sock_recv_length` tracepoints (`tp_btf`, Linux 6.3+), the plan's first
//! way for send and recv:
//!
//! ```c
//! TRACE_EVENT(sock_send_length, TP_PROTO(struct sock *sk, int ret, int flags), ...)
//! DEFINE_EVENT(sock_msg_length, sock_recv_length, ...)   /* include/trace/events/sock.h */
//! ```
//!
//! The same events as the raw tracepoints (messages.rs), but the arguments
//! come typed, so everything is read with plain loads the verifier checks
//! against BTF (`kernel::btf_*`) instead of helpers: the socket's family,
//! type and protocol, and the task's pid, tid, uid, cgroup id and comm from
//! `bpf_get_current_task_btf()`. Helper calls cost 25-75 ns each in this VM
//! (docs/design.md); this program makes three (the task, the time, the CPU,
//! which the JIT inlines).

use aya_ebpf::{
    helpers::generated::{
        bpf_get_current_task_btf, bpf_get_smp_processor_id, bpf_ktime_get_boot_ns,
    },
    macros::btf_tracepoint,
    programs::BtfTracePointContext,
};
use sockrec_common::{EventKind, FLAG_SOCK_FROM_KERNEL};

use crate::{
    config::{FIELDS, should_trace},
    kernel::{btf_comm, btf_u16, btf_u32, btf_u64},
    messages::emit_batched,
};

#[inline(always)]
fn message(ctx: &BtfTracePointContext, kind: EventKind) -> i32 {
    let fs = &FIELDS;
    let task = unsafe { bpf_get_current_task_btf() } as u64;
    // task_struct.pid is the thread's id, .tgid the process's, as
    // bpf_get_current_pid_tgid() returns them (kernel/bpf/helpers.c).
    let tid = btf_u32(task, &fs.task_pid);
    let tgid = btf_u32(task, &fs.task_tgid);
    let pid_tgid = ((tgid as u64) << 32) | tid as u64;
    if !should_trace(kind, pid_tgid) {
        return 0;
    }
    let sk: u64 = ctx.arg(0);
    let ret: i32 = ctx.arg(1);
    let flags: i32 = ctx.arg(2);
    emit_batched(kind, |ev| {
        ev.time_ns = unsafe { bpf_ktime_get_boot_ns() };
        ev.pid = tgid;
        ev.tid = tid;
        // current_uid(): task->cred->uid, as bpf_get_current_uid_gid() reads it.
        ev.uid = btf_u32(btf_u64(task, &fs.task_cred), &fs.cred_uid);
        // task_dfl_cgroup(task)->kn->id, as bpf_get_current_cgroup_id() reads it.
        let css_set = btf_u64(task, &fs.task_cgroups);
        let cgroup = btf_u64(css_set, &fs.css_set_dfl_cgrp);
        ev.cgroup_id = btf_u64(btf_u64(cgroup, &fs.cgroup_kn), &fs.kernfs_node_id);
        ev.cpu = unsafe { bpf_get_smp_processor_id() };
        ev.ret = ret;
        ev.call_flags = flags as u32;
        ev.kind = kind as u8;
        ev.flags = FLAG_SOCK_FROM_KERNEL;
        ev.family = btf_u16(sk, &fs.sk_family);
        ev.sock_type = btf_u16(sk, &fs.sk_type);
        ev.protocol = btf_u16(sk, &fs.sk_protocol);
        ev.comm = btf_comm(task);
    });
    0
}

#[btf_tracepoint(function = "sock_send_length")]
pub fn btf_sock_send_length(ctx: BtfTracePointContext) -> i32 {
    message(&ctx, EventKind::Send)
}

#[btf_tracepoint(function = "sock_recv_length")]
pub fn btf_sock_recv_length(ctx: BtfTracePointContext) -> i32 {
    message(&ctx, EventKind::Recv)
}
