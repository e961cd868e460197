//! sockrec's kernel-side programs.
//!
//! Every program writes [`SocketEvent`]s into one BPF ring buffer
//! ([`maps::EVENTS`]). Syscalls (socket, socketpair, bind, connect, accept,
//! accept4) are traced at entry and exit and paired in the kernel by thread,
//! so user space receives one event per call with its latency; messages come
//! from the `sock:sock_send_length` / `sock:sock_recv_length` tracepoints
//! (Linux 6.3+), fired by `sock_sendmsg()` / `sock_recvmsg()`, or on older
//! kernels from the later ways of the probe plan (fexit, kprobes, syscalls).
//!
//! Layout: `probes/` holds the programs, one file per way of the probe plan
//! (recorder/src/probes.rs; the table is in `probes/mod.rs`), each importing
//! only the leaves below, never another probe. `features.rs` holds programs
//! user space loads only to learn what this kernel allows (no way of the
//! plan). The leaves beneath, in import order: a leaf may import only
//! leaves above it in this table (the last column says which it does), so
//! there is no import circle:
//!
//! | leaf | owns | imports |
//! |------|------|---------|
//! | `config.rs` | what user space sets at load time: `FIELDS`, the filters' globals, `TASK_BTF`, `WAKEUP_BYTES` | — |
//! | `maps.rs` | the maps shared with user space | — |
//! | `syscall_record.rs` | the syscall tracepoints' record (`arg`) | — |
//! | `fields.rs` | kernel struct fields at BTF offsets: `bpf_probe_read_kernel` (`read`, `read_fields`) and plain loads (`btf_u16/u32/u64`) | config |
//! | `task.rs` | the current task (`BtfTask`, `HelperTask`, `fill_task!`, `current_comm`) | config, fields |
//! | `filter.rs` | `should_trace`, `current_pid_tgid`; for TCP events `should_trace_sock` | config, maps, task |
//! | `socket.rs` | the socket behind an fd, a `struct sock`'s family, type, protocol, ends, inode | config, fields, task |
//! | `pending.rs` | calls between entry and exit (slots or hash) | maps |
//! | `emit.rs` | handing events to user space with few wakeups | config, maps |
//! | `message.rs` | what the message ways share: batches, one-record emit, entry/exit pairing | config, emit, maps, socket, task |
//! | `tcp.rs` | what the TCP ways share: one event for a state change or retransmit | config, emit, fields, filter, socket, task |
//!
//! [`SocketEvent`]: sockrec_common::SocketEvent
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]
// BPF_CMPXCHG and BPF_XCHG (pending.rs), which `core::sync::atomic` does
// not offer on the bpf target.
#![cfg_attr(target_arch = "bpf", feature(core_intrinsics))]
#![cfg_attr(target_arch = "bpf", allow(internal_features))]

#[cfg(target_arch = "bpf")]
mod config;
#[cfg(target_arch = "bpf")]
mod emit;
#[cfg(target_arch = "bpf")]
mod features;
#[cfg(target_arch = "bpf")]
mod fields;
#[cfg(target_arch = "bpf")]
mod filter;
#[cfg(target_arch = "bpf")]
mod maps;
#[cfg(target_arch = "bpf")]
mod message;
#[cfg(target_arch = "bpf")]
mod pending;
#[cfg(target_arch = "bpf")]
mod probes;
#[cfg(target_arch = "bpf")]
mod socket;
#[cfg(target_arch = "bpf")]
mod syscall_record;
#[cfg(target_arch = "bpf")]
mod task;
#[cfg(target_arch = "bpf")]
mod tcp;

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier rejects any path that could reach here, so it never runs.
    loop {}
}

/// GPL-compatible: `bpf_probe_read_kernel` and `bpf_get_current_task` are
/// GPL-only helpers.
#[cfg(target_arch = "bpf")]
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

/// The host build of this crate (for `cargo check --workspace`) has nothing to run.
#[cfg(not(target_arch = "bpf"))]
fn main() {}
