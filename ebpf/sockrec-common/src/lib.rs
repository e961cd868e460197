//! The event layout shared by the eBPF programs (kernel side) and the recorder
//! (user side).
//!
//! Everything here is `#[repr(C)]` plain data: the kernel writes it into the
//! ring buffer byte for byte and user space reads it back with the same layout.
//! Nothing in this crate may allocate or use `std`: it is compiled for
//! `bpfel-unknown-none` as well as for the host.
#![no_std]

/// What kind of socket event a record is. The numbering is part of the wire
/// format between kernel and user space (not of the capture file, which
/// stores [`EventKind::name`]).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// socket(2)
    Socket = 1,
    /// socketpair(2)
    Socketpair = 2,
    /// bind(2)
    Bind = 3,
    /// connect(2)
    Connect = 4,
    /// accept(2)
    Accept = 5,
    /// accept4(2)
    Accept4 = 6,
    /// One message sent through `sock_sendmsg()` (send, sendto, sendmsg, write on a socket...).
    Send = 7,
    /// One message received through `sock_recvmsg()`.
    Recv = 8,
    /// listen(2)
    Listen = 9,
    /// A TCP socket changed state (`sock:inet_sock_set_state`).
    TcpState = 10,
    /// A TCP segment was retransmitted (`tcp:tcp_retransmit_skb`).
    TcpRetransmit = 11,
    /// A socket's last file reference went away (`sock_close()`): the end
    /// of its life, whatever its family.
    Close = 12,
}

impl EventKind {
    /// Every kind, in wire order.
    pub const ALL: [EventKind; 12] = [
        EventKind::Socket,
        EventKind::Socketpair,
        EventKind::Bind,
        EventKind::Connect,
        EventKind::Accept,
        EventKind::Accept4,
        EventKind::Send,
        EventKind::Recv,
        EventKind::Listen,
        EventKind::TcpState,
        EventKind::TcpRetransmit,
        EventKind::Close,
    ];

    pub fn from_u8(v: u8) -> Option<EventKind> {
        EventKind::ALL.get((v as usize).wrapping_sub(1)).copied()
    }

    /// The kind [`EventKind::name`] names.
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The name stored in the capture's `kind` column and accepted by `--events`.
    pub const fn name(self) -> &'static str {
        match self {
            EventKind::Socket => "socket",
            EventKind::Socketpair => "socketpair",
            EventKind::Bind => "bind",
            EventKind::Connect => "connect",
            EventKind::Accept => "accept",
            EventKind::Accept4 => "accept4",
            EventKind::Send => "send",
            EventKind::Recv => "recv",
            EventKind::Listen => "listen",
            EventKind::TcpState => "tcp_state",
            EventKind::TcpRetransmit => "tcp_retransmit",
            EventKind::Close => "close",
        }
    }

    /// This kind's bit in the kernel-side event filter ([`EVENT_MASK_ALL`]).
    pub const fn bit(self) -> u32 {
        1 << (self as u8)
    }

    /// Whether this is a syscall traced at entry and exit (it has a
    /// return value and a latency).
    pub const fn is_call(self) -> bool {
        !matches!(
            self,
            EventKind::Send
                | EventKind::Recv
                | EventKind::TcpState
                | EventKind::TcpRetransmit
                | EventKind::Close
        )
    }

    /// Whether this is one message sent or received (it has a byte count).
    pub const fn is_message(self) -> bool {
        matches!(self, EventKind::Send | EventKind::Recv)
    }
}

/// The address families the probes and the readers interpret
/// (include/linux/socket.h; fixed by the Linux ABI, so spelled out here
/// rather than taken from libc, which the eBPF crate cannot use).
pub const AF_UNIX: u16 = 1;
/// `AF_INET`.
pub const AF_INET: u16 = 2;
/// `AF_INET6`.
pub const AF_INET6: u16 = 10;

/// The filter value that lets every kind through.
pub const EVENT_MASK_ALL: u32 = 0x1ffe;

/// [`SocketEvent::flags`]: the call had not returned when recording stopped;
/// `ret` and `latency_ns` are meaningless and `time_ns` is the entry time.
pub const FLAG_IN_FLIGHT: u8 = 1 << 0;
/// [`SocketEvent::flags`]: `family`, `sock_type` and `protocol` were read from
/// the kernel's `struct socket` (otherwise: from the syscall's arguments, or unknown).
pub const FLAG_SOCK_FROM_KERNEL: u8 = 1 << 1;
/// [`SocketEvent::flags`]: `addr` was read from the kernel's socket (accept
/// with a NULL address), not from the caller's buffer.
pub const FLAG_ADDR_FROM_KERNEL: u8 = 1 << 2;

/// [`SocketEvent::flags`]: `lport`/`laddr` (and `rport`/`raddr` when
/// connected) hold the socket's ends, read from its `struct sock`, in its
/// `family`'s format (an IPv4 address in the first 4 bytes).
pub const FLAG_ENDS: u8 = 1 << 3;

/// `struct sock`'s TCP states (include/net/tcp_states.h), by number: the
/// names the capture stores (`old_state`, `state`), as BCC's tcpstates
/// prints them. Index 0 is not a state.
pub const TCP_STATES: [&str; 14] = [
    "",
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
    "NEW_SYN_RECV",
    "BOUND_INACTIVE",
];
/// `TCP_CLOSE`: a TCP socket's life ends with the change to this state.
pub const TCP_CLOSE: u8 = 7;

/// Room for a `struct sockaddr_un` (110 bytes), the largest address we keep.
pub const ADDR_CAP: usize = 112;

/// One socket event, as the kernel hands it to user space.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SocketEvent {
    /// `bpf_ktime_get_boot_ns()` when the call was entered (set at sys_enter,
    /// task.rs; it returned at `time_ns + latency_ns`), or when the message
    /// was sent/received. CLOCK_BOOTTIME.
    pub time_ns: u64,
    /// Exit minus entry for calls; 0 for messages.
    pub latency_ns: u64,
    /// `bpf_get_current_cgroup_id()`: cgroup v2 inode number.
    pub cgroup_id: u64,
    /// The call's return value; for messages the byte count or -errno.
    pub ret: i64,
    /// Process id (tgid).
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    pub uid: u32,
    pub cpu: u32,
    /// The socket the call acted on (the new socket for socket/socketpair,
    /// the listening socket for accept); -1 where unknown (messages).
    pub fd: i32,
    /// The second fd: the accepted socket, or socketpair's `sv[1]`; -1 otherwise.
    pub fd2: i32,
    /// socket/socketpair: the flag bits of `type` (SOCK_NONBLOCK, SOCK_CLOEXEC);
    /// accept4: its `flags`; send/recv: the msg flags.
    pub call_flags: u32,
    /// [`EventKind`] as u8.
    pub kind: u8,
    /// `FLAG_*` bits.
    pub flags: u8,
    /// Socket's address family (`sk->__sk_common.skc_family`), 0 if unknown.
    pub family: u16,
    /// Socket's type (`socket->type`, SOCK_STREAM...), 0 if unknown.
    pub sock_type: u16,
    /// Socket's protocol (`sk->sk_protocol`), 0 if unknown.
    pub protocol: u16,
    /// Bytes of `addr` that hold the address (0: none).
    pub addr_len: u16,
    pub _pad: u16,
    /// `current->comm`.
    pub comm: [u8; 16],
    /// The raw `struct sockaddr`: what bind/connect were passed, or accept's peer.
    pub addr: [u8; ADDR_CAP],
    /// The socket's inode number (`SOCK_INODE(sock)->i_ino`, what
    /// `/proc/PID/fd` shows as `socket:[N]`); 0 if unknown.
    pub inode: u64,
    /// The `struct sock *` (TCP events, connect, accept, listen); 0 if unknown.
    pub sock: u64,
    /// TCP state changes: `tcp_sock.bytes_acked` / `bytes_received`.
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    /// The socket's local and remote addresses (with [`FLAG_ENDS`]),
    /// network order as in the kernel; IPv4 in the first 4 bytes.
    pub laddr: [u8; 16],
    pub raddr: [u8; 16],
    /// Local and remote port, host order.
    pub lport: u16,
    pub rport: u16,
    /// listen(2)'s backlog.
    pub backlog: u32,
    /// TCP state changes: the state before; retransmits: 0.
    pub old_state: u8,
    /// TCP state changes: the new state; retransmits: the socket's state.
    pub state: u8,
    pub _pad2: [u8; 6],
}

impl SocketEvent {
    /// An event of `kind` at `time_ns` that knows nothing else: no task, no
    /// socket (`fd`, `fd2` -1), no address. For events made in user space
    /// (tests, tools that write captures) by setting what they know on it.
    pub const fn new(kind: EventKind, time_ns: u64) -> SocketEvent {
        SocketEvent {
            time_ns,
            latency_ns: 0,
            cgroup_id: 0,
            ret: 0,
            pid: 0,
            tid: 0,
            uid: 0,
            cpu: 0,
            fd: -1,
            fd2: -1,
            call_flags: 0,
            kind: kind as u8,
            flags: 0,
            family: 0,
            sock_type: 0,
            protocol: 0,
            addr_len: 0,
            _pad: 0,
            comm: [0; 16],
            addr: [0; ADDR_CAP],
            inode: 0,
            sock: 0,
            tx_bytes: 0,
            rx_bytes: 0,
            laddr: [0; 16],
            raddr: [0; 16],
            lport: 0,
            rport: 0,
            backlog: 0,
            old_state: 0,
            state: 0,
            _pad2: [0; 6],
        }
    }
}

/// One message sent or received: the compact record of the hot path.
///
/// Messages are most of the events, so they get their own 64-byte record
/// instead of [`SocketEvent`]'s 200 (no address, no fds, no latency):
/// writing fewer bytes into the ring buffer measurably lowers the cost per
/// event. User space tells the two apart by record length and widens this
/// one with [`MessageEvent::to_socket_event`].
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MessageEvent {
    /// As [`SocketEvent::time_ns`].
    pub time_ns: u64,
    pub cgroup_id: u64,
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    /// Bytes sent/received, or -errno.
    pub ret: i32,
    /// The msg flags (MSG_*).
    pub call_flags: u32,
    /// The socket's inode number, 0 if unknown. Socket inodes are numbered
    /// by `get_next_ino()`, an `unsigned int` (fs/inode.c, `sock_alloc()`
    /// in net/socket.c), so 32 bits hold them.
    pub inode: u32,
    /// The CPU (NR_CPUS is at most 8192).
    pub cpu: u16,
    pub protocol: u16,
    /// [`EventKind::Send`] or [`EventKind::Recv`].
    pub kind: u8,
    pub flags: u8,
    /// Address family (AF_MAX is 46) and socket type (at most 10): a byte each.
    pub family: u8,
    pub sock_type: u8,
    pub comm: [u8; 16],
}

impl MessageEvent {
    /// The same event in the general layout.
    pub fn to_socket_event(&self) -> SocketEvent {
        let mut ev = SocketEvent::new(EventKind::Send, self.time_ns);
        ev.kind = self.kind;
        ev.cgroup_id = self.cgroup_id;
        ev.ret = self.ret as i64;
        ev.pid = self.pid;
        ev.tid = self.tid;
        ev.uid = self.uid;
        ev.cpu = self.cpu as u32;
        ev.call_flags = self.call_flags;
        ev.flags = self.flags;
        ev.family = self.family as u16;
        ev.sock_type = self.sock_type as u16;
        ev.protocol = self.protocol;
        ev.comm = self.comm;
        ev.inode = self.inode as u64;
        ev
    }
}

/// Messages a CPU collects before handing them to the ring buffer in one
/// record (see [`MessageBatch`]).
pub const MESSAGE_BATCH: usize = 32;

/// A CPU's messages not yet handed over, one per message program (a
/// per-CPU map value). Reserving and committing a ring buffer record costs
/// ~145 ns here whatever its size, more than everything else a message
/// costs, so the message programs fill this and output `events[..len]` as
/// one record when it is full or its first event is 100 ms old; user space
/// reads what is left when recording stops.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MessageBatch {
    pub len: u32,
    pub _pad: u32,
    pub events: [MessageEvent; MESSAGE_BATCH],
}

// The record lengths tell the layouts apart: a SocketEvent is 280 bytes, a
// record of messages a multiple of 64.
const _: () = assert!(size_of::<SocketEvent>() == 280);
const _: () = assert!(size_of::<MessageEvent>() == 64);
const _: () = assert!(!size_of::<SocketEvent>().is_multiple_of(size_of::<MessageEvent>()));

/// A call seen at entry and not yet at exit: where the entry program
/// leaves it for the exit program (ebpf/sockrec-ebpf/src/pending.rs). Read
/// back by user space at the end of a recording to keep calls still in
/// flight.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PendingCall {
    /// In the slot array: the `pid_tgid` of the thread whose call this
    /// is, 0 for a free slot. Unused in the hash map (keyed by `pid_tgid`).
    pub owner: u64,
    pub event: SocketEvent,
    /// accept/accept4: the caller's `upeer_sockaddr`; socketpair: `usockvec`.
    pub user_ptr: u64,
    /// accept/accept4: the caller's `upeer_addrlen`.
    pub user_len_ptr: u64,
}

/// Slots in the array of calls in progress (a power of two: a thread's
/// first slot is its `tid` masked).
pub const PENDING_SLOT_COUNT: u32 = 16384;

/// Where to find one field of a kernel struct, resolved from the running
/// kernel's BTF at load time (no offsets are compiled in).
///
/// The field is `size` bytes at `offset`; for bitfields (`bits != 0`) it is
/// `bits` wide starting `shift` bits into those bytes (little-endian).
///
/// Eight bytes, 8-aligned, so that a program reads one with a single load
/// (`config::field` in the eBPF crate).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FieldSpec {
    pub offset: u32,
    pub size: u8,
    pub shift: u8,
    pub bits: u8,
    pub _pad: u8,
}

/// Every kernel struct field the programs read, passed in as one global.
/// See `recorder/src/kernel_fields.rs` for the path of each.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelFields {
    /// `task_struct.files`
    pub task_files: FieldSpec,
    /// `files_struct.fdt`
    pub files_fdt: FieldSpec,
    /// `fdtable.max_fds`
    pub fdt_max_fds: FieldSpec,
    /// `fdtable.fd`
    pub fdt_fd: FieldSpec,
    /// `file.private_data`
    pub file_private_data: FieldSpec,
    /// `socket.type`
    pub socket_type: FieldSpec,
    /// `socket.file`
    pub socket_file: FieldSpec,
    /// `socket.sk`
    pub socket_sk: FieldSpec,
    /// `sock.__sk_common.skc_family`
    pub sk_family: FieldSpec,
    /// `sock.sk_protocol` (a bitfield before Linux 5.6)
    pub sk_protocol: FieldSpec,
    /// `sock.sk_type` (a bitfield before Linux 5.6)
    pub sk_type: FieldSpec,
    /// `sock.__sk_common.skc_daddr`
    pub sk_daddr: FieldSpec,
    /// `sock.__sk_common.skc_dport`
    pub sk_dport: FieldSpec,
    /// `sock.__sk_common.skc_v6_daddr`
    pub sk_v6_daddr: FieldSpec,
    /// `task_struct.pid` (the thread id)
    pub task_pid: FieldSpec,
    /// `task_struct.tgid` (the process id)
    pub task_tgid: FieldSpec,
    /// `task_struct.comm`
    pub task_comm: FieldSpec,
    /// `task_struct.cred`
    pub task_cred: FieldSpec,
    /// `cred.uid.val`
    pub cred_uid: FieldSpec,
    /// `task_struct.cgroups`
    pub task_cgroups: FieldSpec,
    /// `css_set.dfl_cgrp` (the cgroup v2 cgroup)
    pub css_set_dfl_cgrp: FieldSpec,
    /// `cgroup.kn`
    pub cgroup_kn: FieldSpec,
    /// `kernfs_node.id` (what `bpf_get_current_cgroup_id()` returns)
    pub kernfs_node_id: FieldSpec,
    /// `sock.sk_socket`
    pub sk_socket: FieldSpec,
    /// `file.f_inode`
    pub file_inode: FieldSpec,
    /// `inode.i_ino`
    pub inode_ino: FieldSpec,
    /// `sock.__sk_common.skc_rcv_saddr` (the local IPv4 address)
    pub sk_rcv_saddr: FieldSpec,
    /// `inet_sock.inet_sport` (the local port, network order)
    pub inet_sport: FieldSpec,
    /// `sock.__sk_common.skc_num` (the local port, host order)
    pub sk_num: FieldSpec,
    /// `sock.__sk_common.skc_v6_rcv_saddr`
    pub sk_v6_rcv_saddr: FieldSpec,
    /// `sock.__sk_common.skc_state`
    pub sk_state: FieldSpec,
    /// `tcp_sock.bytes_acked`
    pub tcp_bytes_acked: FieldSpec,
    /// `tcp_sock.bytes_received`
    pub tcp_bytes_received: FieldSpec,
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: all of these are repr(C) plain data with no invalid bit patterns.
    unsafe impl aya::Pod for super::SocketEvent {}
    unsafe impl aya::Pod for super::MessageEvent {}
    unsafe impl aya::Pod for super::MessageBatch {}
    unsafe impl aya::Pod for super::PendingCall {}
    unsafe impl aya::Pod for super::KernelFields {}
    unsafe impl aya::Pod for super::FieldSpec {}
}
