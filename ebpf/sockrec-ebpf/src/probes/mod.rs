//! The programs that catch events: one file per way of the probe plan
//! (recorder/src/probes.rs), each naming in its module doc the kernel
//! function prototype or tracepoint it hooks.
//!
//! | way | file |
//! |-----|------|
//! | socket…accept4: `syscalls:sys_enter_X` / `sys_exit_X` | [`syscalls`] |
//! | messages 1: `tp_btf` `sock_send_length` / `sock_recv_length` | [`messages_btf`] |
//! | messages 2: raw tracepoints, the same | [`messages_raw`] |
//! | messages 3: `sock:sock_send_length` / `sock_recv_length` | [`messages_tracepoint`] |
//! | messages 4: fexit on the families' `*_sendmsg` / `*_recvmsg` | [`proto_msg_fexit`] |
//! | messages 5: fexit `sock_sendmsg` / `sock_recvmsg` | [`sock_msg_fexit`] |
//! | messages 6: kprobe + kretprobe, the same | [`sock_msg_kprobe`] |
//! | messages 7: `syscalls:sys_enter/exit_{sendto,sendmsg,recvfrom,recvmsg}` | [`sock_msg_syscalls`] |
//! | listen: `syscalls:sys_enter_listen` / `sys_exit_listen` | [`syscalls`] |
//! | TCP states 1 and 2: `tp_btf` / raw tracepoint `inet_sock_set_state` | [`tcp_state`] |
//! | TCP retransmits 1 and 2: `tp_btf` / raw tracepoint `tcp_retransmit_skb` | [`tcp_retransmit`] |
//! | close 1 and 2: fentry / kprobe `sock_close` | [`sock_close`] |
//!
//! A probe imports only the leaves beside this directory (main.rs gives
//! their order), never another probe: what two ways share goes into a leaf.

mod messages_btf;
mod messages_raw;
mod messages_tracepoint;
mod proto_msg_fexit;
mod sock_close;
mod sock_msg_fexit;
mod sock_msg_kprobe;
mod sock_msg_syscalls;
mod syscalls;
mod tcp_retransmit;
mod tcp_state;
