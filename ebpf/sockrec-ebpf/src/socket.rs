//! The socket behind an fd, and what a `struct sock` says of itself
//! (family, type, protocol, peer), read at the offsets in `FIELDS`
//! (fields.rs).
//!
//! A leaf: imports config.rs, fields.rs and task.rs.

use aya_ebpf::helpers::generated::bpf_probe_read_kernel;
use core::ffi::c_void;
use sockrec_common::{
    AF_INET, AF_INET6, FLAG_ADDR_FROM_KERNEL, FLAG_ENDS, FLAG_SOCK_FROM_KERNEL, KernelFields,
    SocketEvent,
};

use crate::{
    config::FIELDS,
    fields::{read, read_fields, read16},
    task::Task,
};

/// The socket behind an fd: its `struct socket *`, `socket->type` and
/// `socket->sk`.
#[derive(Clone, Copy)]
pub struct SocketRef {
    pub file: u64,
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
        file,
        socket,
        sock_type: sock_type as u16,
        sk,
    })
}

/// The inode number of a socket's file (`file->f_inode->i_ino`, which is
/// `SOCK_INODE(sock)`: `sock_alloc_file()` in net/socket.c makes the file
/// on the socket's own inode); 0 if unreadable.
#[inline(always)]
pub fn inode_of_file(file: u64) -> u64 {
    let fs = &FIELDS;
    read(file, &fs.file_inode)
        .and_then(|inode| read(inode, &fs.inode_ino))
        .unwrap_or(0)
}

/// The inode number of the socket `sk` belongs to, through
/// `sk->sk_socket->file`; 0 when it has none (a kernel socket, a
/// connection not yet accepted, or one orphaned by close(2):
/// `sock_orphan()` clears `sk_socket`, include/net/sock.h).
#[inline(always)]
pub fn inode_of_sock(sk: u64) -> u64 {
    let fs = &FIELDS;
    read(sk, &fs.sk_socket)
        .and_then(|socket| read(socket, &fs.socket_file))
        .map_or(0, inode_of_file)
}

/// Fills `ev`'s `laddr`/`lport`/`raddr`/`rport` from an INET or INET6
/// `sk`, as `inet_getname()` (net/ipv4/af_inet.c) would answer
/// getsockname(2) and getpeername(2), and sets [`FLAG_ENDS`]. `ev.family`
/// must be the socket's.
#[inline(always)]
pub fn ends_of_sock(ev: &mut SocketEvent, sk: u64) {
    let fs = &FIELDS;
    // skc_daddr, skc_rcv_saddr and skc_dport lie within 16 bytes at the
    // start of sock_common (include/net/sock.h): one read. The local port
    // is `inet_sport`, as the tracepoints report it (include/trace/events
    // /sock.h): `skc_num` is already 0 when a TCP socket's state becomes
    // CLOSE (tcp_set_state() puts the port back first).
    let Some([daddr, saddr, dport]) =
        read_fields(sk, [&fs.sk_daddr, &fs.sk_rcv_saddr, &fs.sk_dport])
    else {
        return;
    };
    let sport = read(sk, &fs.inet_sport).unwrap_or(0);
    match ev.family {
        AF_INET => {
            ev.laddr[..4].copy_from_slice(&(saddr as u32).to_le_bytes());
            ev.raddr[..4].copy_from_slice(&(daddr as u32).to_le_bytes());
        }
        AF_INET6 => {
            let (Some(l), Some(r)) = (read16(sk, &fs.sk_v6_rcv_saddr), read16(sk, &fs.sk_v6_daddr))
            else {
                return;
            };
            ev.laddr = l;
            ev.raddr = r;
        }
        _ => return,
    }
    // Both __be16.
    ev.lport = u16::from_be(sport as u16);
    ev.rport = u16::from_be(dport as u16);
    ev.flags |= FLAG_ENDS;
}

/// Fills `ev`'s family, type and protocol from the socket behind `fd`.
/// Returns the `struct sock *` for further reads.
#[inline(always)]
pub fn describe_fd<T: Task>(ev: &mut SocketEvent, task: T, fd: i64) -> Option<u64> {
    let fs = &FIELDS;
    let SocketRef {
        file,
        sock_type,
        sk,
        ..
    } = socket_of_fd(task, fd)?;
    ev.sock_type = sock_type;
    ev.inode = inode_of_file(file);
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
            let Some(a) = read16(sk, &fs.sk_v6_daddr) else {
                return;
            };
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
