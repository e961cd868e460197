//! The syscall tracepoints' records, read by both ways that hook them
//! (probes/syscalls.rs for calls, probes/sock_msg_syscalls.rs for
//! messages).
//!
//! Tracepoint records are `struct syscall_trace_enter` / `_exit`
//! (include/trace/syscall.h): an 8-byte common header, the syscall number,
//! then the arguments (or the return value) as 8-byte slots from offset 16.
//! This layout is part of the tracepoint ABI and the same on every kernel
//! with syscall tracepoints.
//!
//! A leaf: imports nothing of this crate.

use aya_ebpf::{EbpfContext, programs::TracePointContext};

/// Syscall argument `i` (or, at exit, the return value for `i == 0`).
#[inline(always)]
pub fn arg(ctx: &TracePointContext, i: usize) -> u64 {
    // Direct context loads are cheaper than bpf_probe_read and allowed for
    // tracepoint records.
    unsafe { *(ctx.as_ptr() as *const u64).add(2 + i) }
}
