//! TCP retransmits, from `tcp:tcp_retransmit_skb` (Linux 4.15+), as BCC's
//! tcpretrans takes them (its tracepoint mode): first as a BTF-typed
//! tracepoint (`tp_btf`), then as a raw tracepoint.
//!
//! ```c
//! TRACE_EVENT(tcp_retransmit_skb,
//!     TP_PROTO(const struct sock *sk, const struct sk_buff *skb), ...)
//!     /* include/trace/events/tcp.h; 6.11+ adds `int err`, after these two.
//!        Fired by __tcp_retransmit_skb(), net/ipv4/tcp_output.c */
//! ```

use aya_ebpf::{
    macros::{btf_tracepoint, raw_tracepoint},
    programs::{BtfTracePointContext, RawTracePointContext},
};
use sockrec_common::EventKind;

use crate::tcp::emit_tcp;

#[btf_tracepoint(function = "tcp_retransmit_skb")]
pub fn btf_tcp_retransmit_skb(ctx: BtfTracePointContext) -> i32 {
    emit_tcp::<true>(EventKind::TcpRetransmit, ctx.arg(0), None);
    0
}

#[raw_tracepoint(tracepoint = "tcp_retransmit_skb")]
pub fn raw_tcp_retransmit_skb(ctx: RawTracePointContext) -> u32 {
    emit_tcp::<false>(EventKind::TcpRetransmit, ctx.arg(0), None);
    0
}
