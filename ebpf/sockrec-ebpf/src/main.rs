//! sockrec's kernel-side programs.
//!
//! Every program writes [`SocketEvent`]s into one BPF ring buffer
//! ([`maps::EVENTS`]). Syscalls (socket, socketpair, bind, connect, accept,
//! accept4) are traced at entry and exit and paired in the kernel by thread,
//! so user space receives one event per call with its latency; messages come
//! from the `sock:sock_send_length` / `sock:sock_recv_length` tracepoints
//! (Linux 6.3+), fired by `sock_sendmsg()` / `sock_recvmsg()`.
//!
//! The file layout follows the probes, a file per way of the probe plan
//! (recorder/src/probes.rs): `syscalls.rs` (the syscall tracepoints, for
//! calls), `messages_btf.rs` and `messages.rs` (the `sock_*_length`
//! tracepoints, typed and raw), `proto_msg_fexit.rs`, `sock_msg_fexit.rs`,
//! `sock_msg_kprobe.rs` and `sock_msg_syscalls.rs` (messages on kernels
//! before 6.3). Beneath them: `config.rs` (what user space sets at load
//! time), `kernel.rs` (kernel structs read at offsets taken from BTF),
//! `task.rs` (the current task), `pending.rs` (calls between entry and
//! exit), `maps.rs` and `emit.rs` (handing events to user space); `features.rs`
//! (programs user space loads only to learn what this kernel allows).
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
mod kernel;
#[cfg(target_arch = "bpf")]
mod maps;
#[cfg(target_arch = "bpf")]
mod messages;
#[cfg(target_arch = "bpf")]
mod messages_btf;
#[cfg(target_arch = "bpf")]
mod pending;
#[cfg(target_arch = "bpf")]
mod proto_msg_fexit;
#[cfg(target_arch = "bpf")]
mod sock_msg_fexit;
#[cfg(target_arch = "bpf")]
mod sock_msg_kprobe;
#[cfg(target_arch = "bpf")]
mod sock_msg_syscalls;
#[cfg(target_arch = "bpf")]
mod syscalls;
#[cfg(target_arch = "bpf")]
mod task;

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
