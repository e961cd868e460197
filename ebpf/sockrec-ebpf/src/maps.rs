//! The maps shared with user space.
//!
//! A leaf: imports nothing of this crate.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LruHashMap, PerCpuArray, RingBuf},
};
use sockrec_common::{MessageBatch, PENDING_SLOT_COUNT, PendingCall};

/// Every event, in the order the CPUs reserved them. Its size is set by user
/// space at load time (`sockrec record --buffer-mib`); the value here is a placeholder.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(1 << 22, 0);

/// Each CPU's sends and receives not yet handed to [`EVENTS`], one map per
/// program so that no two programs ever write one batch: a program does not
/// run again on a CPU where it is already running (the kernel's per-program
/// recursion guard, `bpf_prog->active`), and user space reads them only once
/// every program is detached.
#[map]
pub static SEND_BATCH: PerCpuArray<MessageBatch> = PerCpuArray::with_max_entries(1, 0);
#[map]
pub static RECV_BATCH: PerCpuArray<MessageBatch> = PerCpuArray::with_max_entries(1, 0);

/// Calls seen at entry whose exit has not come yet, by thread: one of these
/// two (pending.rs), the other shrunk to one entry by user space. What is
/// left in them when recording stops is written as "in flight".
#[map]
pub static PENDING_SLOTS: Array<PendingCall> = Array::with_max_entries(PENDING_SLOT_COUNT, 0);
#[map]
pub static PENDING: HashMap<u64, PendingCall> = HashMap::with_max_entries(16384, 0);

/// kprobe and syscall ways for messages: the `struct socket *` and the
/// flags (kind in the upper 32 bits) seen at entry, by `pid_tgid`, until the
/// return (`message::save_pending` / `finish_pending`).
#[map]
pub static MSG_PENDING: HashMap<u64, [u64; 2]> = HashMap::with_max_entries(16384, 0);

/// Events dropped because the ring buffer or the calls in progress were
/// full, per CPU.
#[map]
pub static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// A per-CPU scratch slot to build a [`PendingCall`] in: it is too large for
/// the 512-byte BPF stack.
#[map]
pub static SCRATCH: PerCpuArray<PendingCall> = PerCpuArray::with_max_entries(1, 0);

/// With a `--pid`, `--comm` or `--cgroup` filter: the `struct sock`s of
/// the connects, accepts and listens that passed it, so that their TCP
/// state changes and retransmits, mostly made in softirq on behalf of no
/// task in particular, are kept too (filter.rs, `should_trace_sock`).
/// Least recently used first out: a socket that never reaches TCP_CLOSE
/// (UDP connects, sockets still open at the end) cannot fill it.
#[map]
pub static TRACED_SOCKS: LruHashMap<u64, u8> = LruHashMap::with_max_entries(65536, 0);

/// With a filter: the local ports of the listens that passed it, so that a
/// connection to one is kept from its first state change, made in softirq
/// before accept(2) names its owner (`filter::should_trace_sock`). Ports
/// are per network namespace: a port listened on in two only keeps more.
#[map]
pub static TRACED_PORTS: LruHashMap<u16, u8> = LruHashMap::with_max_entries(4096, 0);
