//! The current task: who it is (pid, tid, uid, cgroup, comm) and where its
//! open files are, read in one of two ways.
//!
//! - [`BtfTask`]: `bpf_get_current_task_btf()` (Linux 5.11+) hands the
//!   program a pointer the verifier knows the BTF type of, so every field
//!   after it is a plain load (`fields::btf_*`). One helper call in all.
//! - [`HelperTask`]: one helper per field (`bpf_get_current_pid_tgid()`,
//!   `_uid_gid()`, `_cgroup_id()`, `_comm()`) and `bpf_probe_read_kernel`
//!   for the file table, for kernels without the first.
//!
//! Helper calls cost 25-75 ns each in this VM (docs/design.md), which made
//! the syscall programs' task fields and file-table walk ~2/3 of their time.
//! User space says which way to use in the `TASK_BTF` global
//! (`config::task_btf`); each program checks it once and runs the code for
//! that way only (the verifier follows the one branch a read-only global
//! allows, so a kernel without `bpf_get_current_task_btf` never sees the
//! call).
//!
//! A leaf: imports config.rs and fields.rs.

use aya_ebpf::helpers::{
    bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
    generated::{
        bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_task,
        bpf_get_current_task_btf,
    },
};

use core::mem::MaybeUninit;

use crate::{
    config::{FIELDS, field},
    fields::{btf_u32, btf_u64, read},
};

/// Fills the fields every event has (who, where, when) in a `SocketEvent`
/// or a `MessageEvent`, which name them alike, from a [`Task`] and its
/// `pid_tgid`.
macro_rules! fill_task {
    ($ev:expr, $task:expr, $pid_tgid:expr) => {{
        let (ev, task, pid_tgid) = ($ev, $task, $pid_tgid);
        ev.time_ns = unsafe { aya_ebpf::helpers::generated::bpf_ktime_get_boot_ns() };
        ev.cgroup_id = task.cgroup_id();
        ev.pid = (pid_tgid >> 32) as u32;
        ev.tid = pid_tgid as u32;
        ev.uid = task.uid();
        // Inlined by the JIT: no helper call.
        ev.cpu = unsafe { aya_ebpf::helpers::generated::bpf_get_smp_processor_id() } as _;
        ev.comm = task.comm();
    }};
}
pub(crate) use fill_task;

/// What the programs read of the current task.
pub trait Task: Copy {
    /// The current task.
    fn current() -> Self;
    /// As `bpf_get_current_pid_tgid()`: tgid (the process) in the upper
    /// 32 bits, pid (the thread) in the lower.
    fn pid_tgid(self) -> u64;
    /// `current_uid()`.
    fn uid(self) -> u32;
    /// The task's cgroup v2 id (its kernfs inode number).
    fn cgroup_id(self) -> u64;
    /// `task->comm`.
    fn comm(self) -> [u8; 16];
    /// `task->files->fdt`'s `max_fds` and `fd` (the array of `struct file *`).
    fn fd_table(self) -> Option<(u64, u64)>;
}

/// The current task as a BTF pointer (see the module docs).
#[derive(Clone, Copy)]
pub struct BtfTask(u64);

impl Task for BtfTask {
    #[inline(always)]
    fn current() -> Self {
        BtfTask(unsafe { bpf_get_current_task_btf() } as u64)
    }

    #[inline(always)]
    fn pid_tgid(self) -> u64 {
        // task_struct.pid is the thread's id, .tgid the process's, as
        // bpf_get_current_pid_tgid() returns them (kernel/bpf/helpers.c).
        let fs = &FIELDS;
        ((btf_u32(self.0, &fs.task_tgid) as u64) << 32) | btf_u32(self.0, &fs.task_pid) as u64
    }

    #[inline(always)]
    fn uid(self) -> u32 {
        // task->cred->uid, as bpf_get_current_uid_gid() reads it.
        let fs = &FIELDS;
        btf_u32(btf_u64(self.0, &fs.task_cred), &fs.cred_uid)
    }

    #[inline(always)]
    fn cgroup_id(self) -> u64 {
        // task_dfl_cgroup(task)->kn->id, as bpf_get_current_cgroup_id() reads it.
        let fs = &FIELDS;
        let css_set = btf_u64(self.0, &fs.task_cgroups);
        let cgroup = btf_u64(css_set, &fs.css_set_dfl_cgrp);
        btf_u64(btf_u64(cgroup, &fs.cgroup_kn), &fs.kernfs_node_id)
    }

    #[inline(always)]
    fn comm(self) -> [u8; 16] {
        let f = field(&FIELDS.task_comm);
        if f.size < 16 {
            return [0; 16];
        }
        let p = self.0 + f.offset as u64;
        // SAFETY: within `comm`, two 8-byte loads the verifier checks
        // against the task's BTF.
        let (a, b) = unsafe {
            (
                core::ptr::read_volatile(p as *const u64),
                core::ptr::read_volatile((p + 8) as *const u64),
            )
        };
        comm_of_words([a, b])
    }

    #[inline(always)]
    fn fd_table(self) -> Option<(u64, u64)> {
        let fs = &FIELDS;
        // struct files_struct and struct fdtable are typed too; `fd` is a
        // `struct file **`, which the verifier hands back as a number.
        let fdt = btf_u64(btf_u64(self.0, &fs.task_files), &fs.files_fdt);
        let fd = btf_u64(fdt, &fs.fdt_fd);
        if fd == 0 {
            return None;
        }
        Some((btf_u32(fdt, &fs.fdt_max_fds) as u64, fd))
    }
}

/// The current task through helpers (see the module docs).
#[derive(Clone, Copy)]
pub struct HelperTask;

impl Task for HelperTask {
    #[inline(always)]
    fn current() -> Self {
        HelperTask
    }

    #[inline(always)]
    fn pid_tgid(self) -> u64 {
        bpf_get_current_pid_tgid()
    }

    #[inline(always)]
    fn uid(self) -> u32 {
        bpf_get_current_uid_gid() as u32
    }

    #[inline(always)]
    fn cgroup_id(self) -> u64 {
        unsafe { bpf_get_current_cgroup_id() }
    }

    #[inline(always)]
    fn comm(self) -> [u8; 16] {
        current_comm()
    }

    #[inline(always)]
    fn fd_table(self) -> Option<(u64, u64)> {
        let fs = &FIELDS;
        let task = unsafe { bpf_get_current_task() };
        let fdt = read(read(task, &fs.task_files)?, &fs.files_fdt)?;
        Some((read(fdt, &fs.fdt_max_fds)?, read(fdt, &fs.fdt_fd)?))
    }
}

/// `current->comm` through `bpf_get_current_comm()`, NUL-padded. The
/// buffer is zeroed as two 8-byte words: aya's wrapper zeroes a `[u8; 16]`,
/// which became a call to the object's one-byte-per-turn `memset`. It must
/// be zeroed: on older kernels the helper copies with `strscpy`, which
/// leaves the bytes after the NUL as they were (kernel/bpf/helpers.c), and
/// the `--comm` filter compares all 16 (an unzeroed buffer made the filter
/// drop events in the 6.1 guest: `record::kernel_filters_and_sigterm`).
#[inline(always)]
pub fn current_comm() -> [u8; 16] {
    let mut comm = MaybeUninit::<[u64; 2]>::uninit();
    let p = comm.as_mut_ptr().cast::<u64>();
    // SAFETY: 16 bytes of stack, zeroed with volatile stores (plain ones
    // are merged into a `memset` call again), then written by the helper.
    let comm = unsafe {
        core::ptr::write_volatile(p, 0);
        core::ptr::write_volatile(p.add(1), 0);
        bpf_get_current_comm(p.cast(), 16);
        comm.assume_init()
    };
    comm_of_words(comm)
}

/// A comm read as two 8-byte words (both ways read it so), as its bytes.
#[inline(always)]
fn comm_of_words([a, b]: [u64; 2]) -> [u8; 16] {
    let mut comm = [0u8; 16];
    comm[..8].copy_from_slice(&a.to_ne_bytes());
    comm[8..].copy_from_slice(&b.to_ne_bytes());
    comm
}
