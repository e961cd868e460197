//! TCP state changes, from `sock:inet_sock_set_state` (Linux 4.16+), as
//! BCC's tcpstates and tcplife take them: first as a BTF-typed tracepoint
//! (`tp_btf`, 5.5+), then as a raw tracepoint, both handing over the
//! tracepoint's arguments:
//!
//! ```c
//! TRACE_EVENT(inet_sock_set_state,
//!     TP_PROTO(const struct sock *sk, const int oldstate, const int newstate), ...)
//!     /* include/trace/events/sock.h; fired by inet_sk_state_store() and
//!        inet_sk_set_state(), net/ipv4/af_inet.c */
//! ```
//!
//! The BTF way reads the socket with plain loads, the raw one with
//! `bpf_probe_read_kernel` (tcp.rs).

use aya_ebpf::{
    macros::{btf_tracepoint, raw_tracepoint},
    programs::{BtfTracePointContext, RawTracePointContext},
};
use sockrec_common::EventKind;

use crate::tcp::emit_tcp;

#[btf_tracepoint(function = "inet_sock_set_state")]
pub fn btf_inet_sock_set_state(ctx: BtfTracePointContext) -> i32 {
    let (sk, old, new): (u64, i32, i32) = (ctx.arg(0), ctx.arg(1), ctx.arg(2));
    emit_tcp::<true>(EventKind::TcpState, sk, Some((old as u8, new as u8)));
    0
}

#[raw_tracepoint(tracepoint = "inet_sock_set_state")]
pub fn raw_inet_sock_set_state(ctx: RawTracePointContext) -> u32 {
    let (sk, old, new): (u64, i32, i32) = (ctx.arg(0), ctx.arg(1), ctx.arg(2));
    emit_tcp::<false>(EventKind::TcpState, sk, Some((old as u8, new as u8)));
    0
}
