//! The end of a socket: the release of its file, when its last reference
//! goes (the last close(2) of every dup, or the process's exit), whatever
//! its family, so UDP and UNIX sockets have a life too. fentry where BPF
//! trampolines are allowed (5.5+), else a kprobe; a kernel that allows
//! neither (this project's CI machine) records no `close`:
//!
//! ```c
//! static int sock_close(struct inode *inode, struct file *filp);  /* net/socket.c */
//! ```
//!
//! `sock_close()` is the `release` of every socket's file
//! (`socket_file_ops`): at entry the socket is still whole, so its family,
//! type, protocol, ends and inode are read as a call's are. It runs in the
//! closing task (the last `fput()` of a task runs its `__fput()` before the
//! task returns to user space, fs/file_table.c), so pid and comm are the
//! closer's.

use aya_ebpf::{
    macros::{fentry, kprobe},
    programs::{FEntryContext, ProbeContext},
};
use sockrec_common::{EventKind, FLAG_SOCK_FROM_KERNEL, SocketEvent};

use crate::{
    config::{FIELDS, task_btf},
    emit,
    fields::read,
    filter::{current_pid_tgid, should_trace},
    socket,
    task::{BtfTask, HelperTask, Task, fill_task},
};

/// Emits a `close` event for the socket file `file`.
#[inline(always)]
fn emit_close(file: u64) {
    let kind = EventKind::Close;
    let pid_tgid = current_pid_tgid();
    if !should_trace(kind, pid_tgid) {
        return;
    }
    let fs = &FIELDS;
    let sk = read(file, &fs.file_private_data)
        .and_then(|socket| read(socket, &fs.socket_sk))
        .unwrap_or(0);
    let Some(mut entry) = emit::reserve::<SocketEvent>() else {
        return;
    };
    let ev = entry.as_mut_ptr();
    // Every byte written: zeroed eight bytes at a time (volatile, so no
    // `memset` call; see syscalls.rs's `copy_event`).
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
    ev.inode = socket::inode_of_file(file);
    if sk != 0 {
        (ev.family, ev.sock_type, ev.protocol) = socket::describe_sock(sk);
        ev.flags = FLAG_SOCK_FROM_KERNEL;
        ev.sock = sk;
        socket::ends_of_sock(ev, sk);
    }
    emit::submit(entry);
}

#[fentry(function = "sock_close")]
pub fn fentry_sock_close(ctx: FEntryContext) -> i32 {
    emit_close(ctx.arg(1));
    0
}

#[kprobe]
pub fn kprobe_sock_close(ctx: ProbeContext) -> u32 {
    emit_close(ctx.arg(1).unwrap_or(0));
    0
}
