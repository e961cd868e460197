//! Reading kernel structs without compiled-in offsets.
//!
//! Rust eBPF has no CO-RE relocations yet, so user space resolves every
//! field we read from the running kernel's BTF (`/sys/kernel/btf/vmlinux`)
//! and passes the offsets in as the `FIELDS` global (see
//! `recorder/src/kernel_fields.rs`). A field the kernel lacks has size 0 and
//! reads as `None`.

use aya_ebpf::helpers::generated::{bpf_get_current_task, bpf_probe_read_kernel};
use core::ffi::c_void;
use sockrec_common::{
    FLAG_ADDR_FROM_KERNEL, FLAG_SOCK_FROM_KERNEL, FieldSpec, KernelFields, SocketEvent,
};

use crate::config::{FIELDS, field};

/// `S_IFMT` and `S_IFSOCK` from include/uapi/linux/stat.h.
const S_IFMT: u64 = 0o170000;
const S_IFSOCK: u64 = 0o140000;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// Reads the field `spec` of the struct at `base` (a kernel address).
#[inline(always)]
fn read(base: u64, spec: &FieldSpec) -> Option<u64> {
    let f = field(spec);
    if f.size == 0 || base == 0 {
        return None;
    }
    let mut v: u64 = 0;
    // Clamp so the verifier sees a bounded size (1..=8).
    let size = if f.size > 8 { 8 } else { f.size as u32 };
    let r = unsafe {
        bpf_probe_read_kernel(
            (&mut v as *mut u64).cast::<c_void>(),
            size,
            (base + f.offset as u64) as *const c_void,
        )
    };
    if r != 0 {
        return None;
    }
    if f.bits != 0 {
        // A bitfield (e.g. sk_protocol before Linux 5.6): little-endian, so
        // the field starts `shift` bits into the bytes read.
        v = (v >> (f.shift & 63)) & ((1u64 << (f.bits & 63)) - 1);
    }
    Some(v)
}

/// The kernel's `struct socket *` behind `fd` in the current task, or `None`
/// if `fd` is not an open socket. Walks current->files->fdt->fd[fd] as
/// `fget()` would (fs/file.c), without taking a reference.
#[inline(always)]
pub fn socket_of_fd(fd: i64) -> Option<u64> {
    if fd < 0 {
        return None;
    }
    let fs = &FIELDS;
    let task = unsafe { bpf_get_current_task() };
    let files = read(task, &fs.task_files)?;
    let fdt = read(files, &fs.files_fdt)?;
    let max_fds = read(fdt, &fs.fdt_max_fds)?;
    if fd as u64 >= max_fds {
        return None;
    }
    let fd_array = read(fdt, &fs.fdt_fd)?;
    let mut file: u64 = 0;
    let r = unsafe {
        bpf_probe_read_kernel(
            (&mut file as *mut u64).cast::<c_void>(),
            8,
            (fd_array + (fd as u64) * 8) as *const c_void,
        )
    };
    if r != 0 || file == 0 {
        return None;
    }
    // Only a socket's file has a `struct socket` in private_data
    // (sock_alloc_file() in net/socket.c).
    let inode = read(file, &fs.file_inode)?;
    let mode = read(inode, &fs.inode_mode)?;
    if mode & S_IFMT != S_IFSOCK {
        return None;
    }
    read(file, &fs.file_private_data)
}

/// Plain loads of the field `spec` of the struct at `base`, for a `base`
/// the verifier knows the BTF type of (a `tp_btf` argument,
/// `bpf_get_current_task_btf()`, or a pointer loaded from those). Such
/// loads are checked against the kernel's BTF at load time and cost no
/// helper call (`bpf_probe_read_kernel` is 25-35 ns here). The verifier
/// sees `spec` as a constant (`FIELDS` is in the frozen, read-only
/// `.rodata`), so the size test below is settled at load time. A NULL or
/// bad pointer reads as 0 (the JIT's exception table). A field whose size
/// is not the one asked for (missing: 0; a bitfield) reads as 0.
macro_rules! btf_load {
    ($name:ident, $t:ty) => {
        #[inline(always)]
        pub fn $name(base: u64, spec: &FieldSpec) -> $t {
            let f = field(spec);
            if f.size as usize != size_of::<$t>() || f.bits != 0 {
                return 0;
            }
            // SAFETY: see above; the verifier lets the load through only
            // within the BTF type.
            unsafe { core::ptr::read_volatile((base + f.offset as u64) as *const $t) }
        }
    };
}
btf_load!(btf_u16, u16);
btf_load!(btf_u32, u32);
btf_load!(btf_u64, u64);

/// `task_struct.comm` of `task` (a BTF task pointer), as two 8-byte loads.
#[inline(always)]
pub fn btf_comm(task: u64) -> [u8; 16] {
    let f = field(&FIELDS.task_comm);
    if f.size < 16 {
        return [0; 16];
    }
    let p = task + f.offset as u64;
    // SAFETY: within `comm` (checked by the verifier, as above).
    let (a, b) = unsafe {
        (
            core::ptr::read_volatile(p as *const u64),
            core::ptr::read_volatile((p + 8) as *const u64),
        )
    };
    let mut comm = [0u8; 16];
    comm[..8].copy_from_slice(&a.to_ne_bytes());
    comm[8..].copy_from_slice(&b.to_ne_bytes());
    comm
}

/// Fills `ev`'s family, type and protocol from the socket behind `fd`.
/// Returns the `struct sock *` for further reads.
#[inline(always)]
pub fn describe_fd(ev: &mut SocketEvent, fd: i64) -> Option<u64> {
    let fs = &FIELDS;
    let socket = socket_of_fd(fd)?;
    let sk = read(socket, &fs.socket_sk)?;
    ev.sock_type = read(socket, &fs.socket_type)? as u16;
    ev.family = read(sk, &fs.sk_family)? as u16;
    ev.protocol = read(sk, &fs.sk_protocol)? as u16;
    ev.flags |= FLAG_SOCK_FROM_KERNEL;
    Some(sk)
}

/// `sock->sk` of a `struct socket *` (0 if unreadable).
#[inline(always)]
pub fn sock_of_socket(socket: u64, fs: &KernelFields) -> u64 {
    read(socket, &fs.socket_sk).unwrap_or(0)
}

/// Family, type and protocol of a `struct sock *` (0 where unreadable).
#[inline(always)]
pub fn describe_sock(sk: u64) -> (u16, u16, u16) {
    let fs = &FIELDS;
    (
        read(sk, &fs.sk_family).unwrap_or(0) as u16,
        read(sk, &fs.sk_type).unwrap_or(0) as u16,
        read(sk, &fs.sk_protocol).unwrap_or(0) as u16,
    )
}

/// `sk->sk_type` for the message tracepoints, which give the family and
/// protocol but not the type.
#[inline(always)]
pub fn sock_type(sk: u64) -> u16 {
    let fs = &FIELDS;
    read(sk, &fs.sk_type).unwrap_or(0) as u16
}

/// Writes the peer of an INET/INET6 `sk` into `ev.addr` as a sockaddr, for
/// an accept whose caller passed no address buffer.
#[inline(always)]
pub fn peer_of_sock(ev: &mut SocketEvent, sk: u64) {
    let fs = &FIELDS;
    let Some(port) = read(sk, &fs.sk_dport) else {
        return;
    };
    // skc_dport is __be16: its bytes are already in network order.
    let port = (port as u16).to_le_bytes();
    match ev.family {
        AF_INET => {
            let Some(addr) = read(sk, &fs.sk_daddr) else {
                return;
            };
            ev.addr[..2].copy_from_slice(&AF_INET.to_le_bytes());
            ev.addr[2..4].copy_from_slice(&port);
            ev.addr[4..8].copy_from_slice(&(addr as u32).to_le_bytes());
            ev.addr_len = 16;
        }
        AF_INET6 => {
            let f = field(&fs.sk_v6_daddr);
            if f.size != 16 {
                return;
            }
            let mut a = [0u8; 16];
            let r = unsafe {
                bpf_probe_read_kernel(
                    a.as_mut_ptr().cast::<c_void>(),
                    16,
                    (sk + f.offset as u64) as *const c_void,
                )
            };
            if r != 0 {
                return;
            }
            ev.addr[..2].copy_from_slice(&AF_INET6.to_le_bytes());
            ev.addr[2..4].copy_from_slice(&port);
            ev.addr[4..8].copy_from_slice(&[0; 4]);
            ev.addr[8..24].copy_from_slice(&a);
            ev.addr[24..28].copy_from_slice(&[0; 4]);
            ev.addr_len = 28;
        }
        _ => return,
    }
    ev.flags |= FLAG_ADDR_FROM_KERNEL;
}
