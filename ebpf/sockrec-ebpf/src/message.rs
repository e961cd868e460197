//! What every way of catching a message shares: the per-CPU batches the
//! tracepoint ways fill ([`emit_batched`], see `MessageBatch`), the
//! one-record-per-message path of the others ([`emit_from_sock`]), and the
//! entry/exit pairing of the kprobe and syscall ways ([`save_pending`],
//! [`finish_pending`]).
//!
//! A leaf: imports config.rs, emit.rs, maps.rs, socket.rs and task.rs.

use aya_ebpf::maps::PerCpuArray;
use sockrec_common::{EventKind, FLAG_SOCK_FROM_KERNEL, MESSAGE_BATCH, MessageBatch, MessageEvent};

use crate::{
    config::{FIELDS, task_btf},
    emit,
    maps::{MSG_PENDING, RECV_BATCH, SEND_BATCH},
    socket,
    task::{BtfTask, HelperTask, Task, fill_task},
};

/// A batch is handed over once its first message is this old, so a CPU
/// with little traffic does not hold messages back for long.
const BATCH_AGE_NS: u64 = 100_000_000;

/// Every field of a message's event, with the task's read the way
/// `TASK_BTF` says; `sock` is the socket's (family, type, protocol),
/// `inode` its inode number.
#[inline(always)]
pub fn fill_message(
    ev: &mut MessageEvent,
    kind: EventKind,
    pid_tgid: u64,
    ret: i32,
    flags: i32,
    sock: (u16, u16, u16),
    inode: u64,
) {
    if task_btf() {
        fill_task!(&mut *ev, BtfTask::current(), pid_tgid);
    } else {
        fill_task!(&mut *ev, HelperTask, pid_tgid);
    }
    ev.kind = kind as u8;
    ev.ret = ret;
    ev.call_flags = flags as u32;
    ev.family = sock.0 as u8;
    ev.sock_type = sock.1 as u8;
    ev.protocol = sock.2;
    ev.inode = inode as u32;
    ev.flags = FLAG_SOCK_FROM_KERNEL;
}

/// Emits one message event; `sock` is the socket's (family, type, protocol).
#[inline(always)]
fn emit_message(
    kind: EventKind,
    pid_tgid: u64,
    ret: i32,
    flags: i32,
    sock: (u16, u16, u16),
    inode: u64,
) {
    let Some(mut entry) = emit::reserve::<MessageEvent>() else {
        return;
    };
    // SAFETY: every field is written below before submit.
    fill_message(
        unsafe { &mut *entry.as_mut_ptr() },
        kind,
        pid_tgid,
        ret,
        flags,
        sock,
        inode,
    );
    emit::submit(entry);
}

/// The batch of the program catching `kind`: the tp_btf, raw tracepoint and
/// tracepoint ways have one program per kind (and only one way is attached
/// per kind), so one batch per kind.
#[inline(always)]
fn batch_of(kind: EventKind) -> &'static PerCpuArray<MessageBatch> {
    if kind == EventKind::Send {
        &SEND_BATCH
    } else {
        &RECV_BATCH
    }
}

/// The kind a message program catches: a const parameter rather than an
/// argument, so that each program instantiates its own `message` and with
/// it its own `fill` closure for [`emit_batched`].
#[inline(always)]
pub fn message_kind<const SEND: bool>() -> EventKind {
    if SEND {
        EventKind::Send
    } else {
        EventKind::Recv
    }
}

/// Adds one message to this CPU's batch for `kind`, written by `fill`
/// (every field), handing the batch over when it is full or old (see
/// [`MessageBatch`]). Only for ways with one program per kind: each batch
/// must have a single writer per CPU.
///
/// Each program must pass a closure of its own type ([`message_kind`]): a
/// closure shared by the send and the recv program has two callers, and
/// LLVM then keeps it as a function of its own, a BPF subprogram, called
/// (not inlined) for every message. That call cost ~14 ns of ~170 per
/// message here (`cargo xtask bench kernel --quick`; `perf record -a`
/// showed the closure as `bpf_prog_..._{closure#0}`).
#[inline(always)]
pub fn emit_batched(kind: EventKind, fill: impl FnOnce(&mut MessageEvent)) {
    let Some(batch) = batch_of(kind).get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's value; no other program writes it (see maps.rs).
    let batch = unsafe { &mut *batch };
    let i = batch.len as usize;
    if i >= MESSAGE_BATCH {
        // Never so (it is reset on reaching it); bounds the index for the verifier.
        batch.len = 0;
        return;
    }
    let ev = &mut batch.events[i];
    fill(ev);
    let n = i + 1;
    let age = ev.time_ns.wrapping_sub(batch.events[0].time_ns);
    if n == MESSAGE_BATCH || age >= BATCH_AGE_NS {
        emit::output_messages(&batch.events[..n]);
        batch.len = 0;
    } else {
        batch.len = n as u32;
    }
}

/// Emits one message event for `sk` (a `struct sock *`), reading its family,
/// type, protocol and inode from the kernel. Shared by every way of catching a
/// message that does not hand us a formatted record.
#[inline(always)]
pub fn emit_from_sock(kind: EventKind, pid_tgid: u64, sk: u64, ret: i32, flags: i32) {
    let inode = socket::inode_of_sock(sk);
    emit_message(kind, pid_tgid, ret, flags, socket::describe_sock(sk), inode);
}

/// For the ways that see a message's start and its end apart (kprobe +
/// kretprobe, syscall enter + exit): saves the `struct socket *` and flags
/// by thread until [`finish_pending`].
#[inline(always)]
pub fn save_pending(kind: EventKind, pid_tgid: u64, socket: u64, flags: u32) {
    // The kind rides with the flags so an exit is paired only with its own
    // kind of entry (a stale entry of a thread that died in the call).
    let tagged = (flags as u64) | ((kind as u64) << 32);
    let _ = MSG_PENDING.insert(&pid_tgid, &[socket, tagged], 0);
}

/// The end of a message whose start [`save_pending`] saved: emits it with
/// `ret`, the byte count or -errno.
#[inline(always)]
pub fn finish_pending(kind: EventKind, pid_tgid: u64, ret: i32) {
    let Some(saved) = (unsafe { MSG_PENDING.get(&pid_tgid) }) else {
        return;
    };
    let [socket, tagged] = *saved;
    let _ = MSG_PENDING.remove(&pid_tgid);
    if tagged >> 32 != kind as u64 {
        return;
    }
    let sk = socket::sock_of_socket(socket, &FIELDS);
    emit_from_sock(kind, pid_tgid, sk, ret, tagged as u32 as i32);
}
