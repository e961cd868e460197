//! Reading kernel structs without compiled-in offsets.
//!
//! Rust eBPF has no CO-RE relocations yet, so user space resolves every
//! field we read from the running kernel's BTF (`/sys/kernel/btf/vmlinux`)
//! and passes the offsets in as the `FIELDS` global (see
//! `recorder/src/kernel_fields.rs`). A field the kernel lacks has size 0 and
//! reads as `None`.

use aya_ebpf::helpers::generated::bpf_probe_read_kernel;
use core::{ffi::c_void, mem::MaybeUninit};
use sockrec_common::{
    AF_INET, AF_INET6, FLAG_ADDR_FROM_KERNEL, FLAG_SOCK_FROM_KERNEL, FieldSpec, KernelFields,
    SocketEvent,
};

use crate::{
    config::{FIELDS, field},
    task::Task,
};

/// Reads the field `spec` of the struct at `base` (a kernel address).
#[inline(always)]
pub fn read(base: u64, spec: &FieldSpec) -> Option<u64> {
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
    Some(bitfield(v, &f))
}

/// The value of field `f` from its bytes `v` (little-endian): `v` itself,
/// or for a bitfield (e.g. sk_protocol before Linux 5.6) the `bits` that
/// start `shift` bits in.
#[inline(always)]
fn bitfield(v: u64, f: &FieldSpec) -> u64 {
    if f.bits == 0 {
        return v;
    }
    (v >> (f.shift & 63)) & ((1u64 << (f.bits & 63)) - 1)
}

/// How many bytes [`read_fields`] reads at once.
const WINDOW: u32 = 32;

/// The fields `specs` of the struct at `base`: with one
/// `bpf_probe_read_kernel` when they all lie within [`WINDOW`] bytes, one
/// each otherwise. Each read costs 25-40 ns here, mostly the call, not the
/// bytes. The offsets come from `FIELDS`, which the verifier sees as
/// constants, so it settles the choice at load time and checks every
/// access to the window at a fixed offset.
#[inline(always)]
pub fn read_fields<const N: usize>(base: u64, specs: [&FieldSpec; N]) -> Option<[u64; N]> {
    let mut lo = u32::MAX;
    let mut hi = 0;
    for spec in specs {
        let f = field(spec);
        if f.size == 0 || f.size > 8 {
            return None;
        }
        lo = lo.min(f.offset);
        hi = hi.max(f.offset + f.size as u32);
    }
    let mut out = [0u64; N];
    if base == 0 || hi - lo > WINDOW {
        for (o, spec) in out.iter_mut().zip(specs) {
            *o = read(base, spec)?;
        }
        return Some(out);
    }
    // Not zeroed first: the helper writes every byte (zeros on failure),
    // and `[0u8; N]` became a call to a one-byte-per-turn `memset`.
    let mut window = MaybeUninit::<[u8; WINDOW as usize]>::uninit();
    let r = unsafe {
        bpf_probe_read_kernel(
            window.as_mut_ptr().cast::<c_void>(),
            WINDOW,
            (base + lo as u64) as *const c_void,
        )
    };
    if r != 0 {
        return None;
    }
    // SAFETY: written whole by the helper above.
    let window = unsafe { window.assume_init() };
    for (o, spec) in out.iter_mut().zip(specs) {
        let f = field(spec);
        let at = (f.offset - lo) as usize;
        let mut v = 0u64;
        // Little-endian: the field's bytes, lowest first.
        for i in 0..8 {
            if i < f.size as usize && at + i < WINDOW as usize {
                v |= (window[at + i] as u64) << (8 * i);
            }
        }
        *o = bitfield(v, &f);
    }
    Some(out)
}

/// The socket behind an fd: its `struct socket *`, `socket->type` and
/// `socket->sk`.
#[derive(Clone, Copy)]
pub struct SocketRef {
    pub socket: u64,
    pub sock_type: u16,
    pub sk: u64,
}

/// The socket behind `fd` in the current task, or `None` if `fd` is not an
/// open socket. Walks current->files->fdt->fd[fd] as `fget()` would
/// (fs/file.c), without taking a reference.
#[inline(always)]
pub fn socket_of_fd<T: Task>(task: T, fd: i64) -> Option<SocketRef> {
    if fd < 0 {
        return None;
    }
    let fs = &FIELDS;
    let (max_fds, fd_array) = task.fd_table()?;
    if fd as u64 >= max_fds {
        return None;
    }
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
    let socket = read(file, &fs.file_private_data)?;
    // `type`, `file` and `sk` are within 32 bytes of each other in every
    // `struct socket` since 2.6 (include/linux/net.h): one read.
    let [sock_type, back, sk] =
        read_fields(socket, [&fs.socket_type, &fs.socket_file, &fs.socket_sk])?;
    // A socket's file has its `struct socket` in private_data, and that
    // points back at the file (sock_alloc_file(), net/socket.c). Any other
    // file's private_data is something else (or NULL), whose bytes there
    // are not this file's address: this tells sockets apart without
    // reading the inode's mode (two more reads).
    if back != file {
        return None;
    }
    Some(SocketRef {
        socket,
        sock_type: sock_type as u16,
        sk,
    })
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

/// Fills `ev`'s family, type and protocol from the socket behind `fd`.
/// Returns the `struct sock *` for further reads.
#[inline(always)]
pub fn describe_fd<T: Task>(ev: &mut SocketEvent, task: T, fd: i64) -> Option<u64> {
    let fs = &FIELDS;
    let SocketRef { sock_type, sk, .. } = socket_of_fd(task, fd)?;
    ev.sock_type = sock_type;
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
            // Not zeroed first, as in `read_fields`.
            let mut a = MaybeUninit::<[u8; 16]>::uninit();
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
            // SAFETY: written whole by the helper above.
            let a = unsafe { a.assume_init() };
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
