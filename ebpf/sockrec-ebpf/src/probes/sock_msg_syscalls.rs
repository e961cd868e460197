//! Messages on kernels with none of the other ways (no `sock_*_length`
//! tracepoints, no BPF trampolines, no kprobes): the syscall tracepoints of
//! the calls made to send or receive on a socket, the plan's last resort.
//!
//! ```c
//! long sys_sendto(int fd, void __user *buff, size_t len, unsigned int flags,
//!                 struct sockaddr __user *addr, int addr_len);          /* net/socket.c */
//! long sys_sendmsg(int fd, struct user_msghdr __user *msg, unsigned int flags);
//! long sys_recvfrom(int fd, void __user *ubuf, size_t size, unsigned int flags,
//!                   struct sockaddr __user *addr, int __user *addr_len);
//! long sys_recvmsg(int fd, struct user_msghdr __user *msg, unsigned int flags);
//! ```
//!
//! send(2) and recv(2) are sendto/recvfrom in the kernel. What this way
//! misses, and the others see: write/read/writev/readv on a socket (they
//! are file calls: catching them would mean an fd lookup on every write on
//! the machine), sendmmsg/recvmmsg, sendfile/splice, and messages the
//! kernel sends itself. The entry saves the socket (which the fd holds for
//! the call's length) and the flags; the exit emits with the return value.

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use sockrec_common::EventKind;

use crate::{
    config::task_btf,
    filter::{current_pid_tgid, should_trace},
    message::{finish_pending, save_pending},
    socket,
    syscall_record::arg,
    task::{BtfTask, HelperTask, Task},
};

/// `flags_arg`: where the call's `flags` is (3 for sendto/recvfrom, 2 for
/// sendmsg/recvmsg).
#[inline(always)]
fn enter(ctx: &TracePointContext, kind: EventKind, flags_arg: usize) -> u32 {
    let pid_tgid = current_pid_tgid();
    if !should_trace(kind, pid_tgid) {
        return 0;
    }
    // Not a socket (EBADF, ENOTSOCK): the call fails before any message.
    let fd = arg(ctx, 0) as i32 as i64;
    let socket = if task_btf() {
        socket::socket_of_fd(BtfTask::current(), fd)
    } else {
        socket::socket_of_fd(HelperTask, fd)
    };
    if let Some(socket) = socket {
        save_pending(kind, pid_tgid, socket.socket, arg(ctx, flags_arg) as u32);
    }
    0
}

#[inline(always)]
fn exit(ctx: &TracePointContext, kind: EventKind) -> u32 {
    finish_pending(kind, current_pid_tgid(), arg(ctx, 0) as i64 as i32);
    0
}

#[tracepoint]
pub fn sys_enter_sendto(ctx: TracePointContext) -> u32 {
    enter(&ctx, EventKind::Send, 3)
}

#[tracepoint]
pub fn sys_exit_sendto(ctx: TracePointContext) -> u32 {
    exit(&ctx, EventKind::Send)
}

#[tracepoint]
pub fn sys_enter_sendmsg(ctx: TracePointContext) -> u32 {
    enter(&ctx, EventKind::Send, 2)
}

#[tracepoint]
pub fn sys_exit_sendmsg(ctx: TracePointContext) -> u32 {
    exit(&ctx, EventKind::Send)
}

#[tracepoint]
pub fn sys_enter_recvfrom(ctx: TracePointContext) -> u32 {
    enter(&ctx, EventKind::Recv, 3)
}

#[tracepoint]
pub fn sys_exit_recvfrom(ctx: TracePointContext) -> u32 {
    exit(&ctx, EventKind::Recv)
}

#[tracepoint]
pub fn sys_enter_recvmsg(ctx: TracePointContext) -> u32 {
    enter(&ctx, EventKind::Recv, 2)
}

#[tracepoint]
pub fn sys_exit_recvmsg(ctx: TracePointContext) -> u32 {
    exit(&ctx, EventKind::Recv)
}
