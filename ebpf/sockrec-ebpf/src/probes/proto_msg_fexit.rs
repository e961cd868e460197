//! Messages on kernels before 6.3 through the protocol families' own
//! sendmsg/recvmsg, which `sock_sendmsg()` reaches through `sock->ops`:
//!
//! ```c
//! int inet_sendmsg(struct socket *sock, struct msghdr *msg, size_t size);            /* net/ipv4/af_inet.c */
//! int inet_recvmsg(struct socket *sock, struct msghdr *msg, size_t size, int flags); /* net/ipv4/af_inet.c */
//! int inet6_sendmsg(...), inet6_recvmsg(...);                                        /* net/ipv6/af_inet6.c */
//! static int unix_stream_sendmsg(...), unix_stream_recvmsg(...);                     /* net/unix/af_unix.c */
//! static int unix_dgram_sendmsg(...), unix_dgram_recvmsg(...);                       /* net/unix/af_unix.c */
//! ```
//!
//! Why not `sock_sendmsg` itself: Debian's 6.1 build inlines it into
//! `__sys_sendto()` (same file, net/socket.c), so a kprobe or fexit on it
//! misses every send(2) — as the seed's `kprobe:sock_sendmsg` does there.
//! These functions are only called through the ops tables, never inlined.
//! `unix_seqpacket_*` are left out: they call the `unix_dgram_*` ones, which
//! would count each message twice. Families other than INET, INET6 and
//! UNIX are not seen this way.

use aya_ebpf::{macros::fexit, programs::FExitContext};
use sockrec_common::EventKind;

use crate::{
    config::FIELDS,
    filter::{current_pid_tgid, should_trace},
    message::emit_from_sock,
    socket,
};

/// `fexit` arguments: (sock, msg, size[, flags], ret).
#[inline(always)]
fn sent(ctx: &FExitContext) -> i32 {
    let pid_tgid = current_pid_tgid();
    if should_trace(EventKind::Send, pid_tgid) {
        let sk = socket::sock_of_socket(ctx.arg(0), &FIELDS);
        emit_from_sock(EventKind::Send, pid_tgid, sk, ctx.arg(3), 0);
    }
    0
}

#[inline(always)]
fn received(ctx: &FExitContext) -> i32 {
    let pid_tgid = current_pid_tgid();
    if should_trace(EventKind::Recv, pid_tgid) {
        let sk = socket::sock_of_socket(ctx.arg(0), &FIELDS);
        emit_from_sock(EventKind::Recv, pid_tgid, sk, ctx.arg(4), ctx.arg(3));
    }
    0
}

macro_rules! proto_probes {
    ($($send:ident = $sfn:literal, $recv:ident = $rfn:literal;)*) => {$(
        #[fexit(function = $sfn)]
        pub fn $send(ctx: FExitContext) -> i32 {
            sent(&ctx)
        }

        #[fexit(function = $rfn)]
        pub fn $recv(ctx: FExitContext) -> i32 {
            received(&ctx)
        }
    )*};
}

proto_probes! {
    fexit_inet_sendmsg = "inet_sendmsg", fexit_inet_recvmsg = "inet_recvmsg";
    fexit_inet6_sendmsg = "inet6_sendmsg", fexit_inet6_recvmsg = "inet6_recvmsg";
    fexit_unix_stream_sendmsg = "unix_stream_sendmsg", fexit_unix_stream_recvmsg = "unix_stream_recvmsg";
    fexit_unix_dgram_sendmsg = "unix_dgram_sendmsg", fexit_unix_dgram_recvmsg = "unix_dgram_recvmsg";
}
