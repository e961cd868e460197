//! What user space sets at load time: read-only globals (`.rodata`, frozen
//! before the programs load), found by their unmangled names, and the
//! volatile reads that keep LLVM from folding their zero initialisers in.
//! A leaf: imports nothing of this crate (see main.rs for the order).

use core::ptr::read_volatile;
use sockrec_common::{EVENT_MASK_ALL, FieldSpec, KernelFields};

// The filters' globals, read by filter.rs.

/// The recorder's own tgid: its activity is never recorded.
#[unsafe(no_mangle)]
pub static SELF_PID: u32 = 0;
/// `-p/--pid`: only this tgid (0: all).
#[unsafe(no_mangle)]
pub static FILTER_PID: u32 = 0;
/// `--comm`: only tasks with this comm (first byte 0: all).
#[unsafe(no_mangle)]
pub static FILTER_COMM: [u8; 16] = [0; 16];
/// `--cgroup`: only tasks in this cgroup v2 (inode number) or below it (0: all).
#[unsafe(no_mangle)]
pub static FILTER_CGROUP: u64 = 0;
/// Depth of [`FILTER_CGROUP`] below the root, for `bpf_get_current_ancestor_cgroup_id`.
#[unsafe(no_mangle)]
pub static FILTER_CGROUP_LEVEL: u32 = 0;
/// `--events`: one bit per [`EventKind`](sockrec_common::EventKind).
#[unsafe(no_mangle)]
pub static EVENT_MASK: u32 = EVENT_MASK_ALL;
/// Wake user space once this many bytes wait in the ring buffer (see `emit.rs`).
#[unsafe(no_mangle)]
static WAKEUP_BYTES: u64 = 1 << 20;
/// 1 when the programs may read the task through
/// `bpf_get_current_task_btf()` (Linux 5.11+), 0 for helpers (see `task.rs`).
#[unsafe(no_mangle)]
static TASK_BTF: u32 = 0;
/// Kernel struct fields, resolved from the running kernel's BTF.
#[unsafe(no_mangle)]
pub static FIELDS: KernelFields = KernelFields {
    task_files: ZERO,
    files_fdt: ZERO,
    fdt_max_fds: ZERO,
    fdt_fd: ZERO,
    file_private_data: ZERO,
    socket_type: ZERO,
    socket_file: ZERO,
    socket_sk: ZERO,
    sk_family: ZERO,
    sk_protocol: ZERO,
    sk_type: ZERO,
    sk_daddr: ZERO,
    sk_dport: ZERO,
    sk_v6_daddr: ZERO,
    task_pid: ZERO,
    task_tgid: ZERO,
    task_comm: ZERO,
    task_cred: ZERO,
    cred_uid: ZERO,
    task_cgroups: ZERO,
    css_set_dfl_cgrp: ZERO,
    cgroup_kn: ZERO,
    kernfs_node_id: ZERO,
    sk_socket: ZERO,
    file_inode: ZERO,
    inode_ino: ZERO,
    sk_rcv_saddr: ZERO,
    inet_sport: ZERO,
    sk_num: ZERO,
    sk_v6_rcv_saddr: ZERO,
    sk_state: ZERO,
    tcp_bytes_acked: ZERO,
    tcp_bytes_received: ZERO,
};
const ZERO: FieldSpec = FieldSpec {
    offset: 0,
    size: 0,
    shift: 0,
    bits: 0,
    _pad: 0,
};

/// Reads one entry of [`FIELDS`]. Globals live in a map that user space
/// fills in before load; the volatile read keeps LLVM from folding the zero
/// initialiser in.
///
/// One 8-byte load, taken apart with shifts (bpfel is little-endian): a
/// volatile read of the struct itself was a load per member, five per
/// field and a dozen fields per message. The verifier knows the value
/// (a read-only, frozen map), so the shifts give it constants too.
#[inline(always)]
pub fn field(f: &FieldSpec) -> FieldSpec {
    const _: () = assert!(size_of::<FieldSpec>() == 8 && align_of::<FieldSpec>() == 8);
    // SAFETY: FieldSpec is 8 bytes and 8-aligned (asserted above).
    let v = unsafe { read_volatile((f as *const FieldSpec).cast::<u64>()) };
    FieldSpec {
        offset: v as u32,
        size: (v >> 32) as u8,
        shift: (v >> 40) as u8,
        bits: (v >> 48) as u8,
        _pad: 0,
    }
}

/// Whether to read the current task as a BTF pointer ([`TASK_BTF`]).
#[inline(always)]
pub fn task_btf() -> bool {
    unsafe { read_volatile(&TASK_BTF) != 0 }
}

#[inline(always)]
pub fn wakeup_bytes() -> u64 {
    unsafe { read_volatile(&WAKEUP_BYTES) }
}
