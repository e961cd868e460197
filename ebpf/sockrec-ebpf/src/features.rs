//! Programs never attached: user space loads one to learn whether this
//! kernel's verifier allows what a filter needs, and refuses the filter in
//! one line if not (libbpf's `libbpf_probe_bpf_helper` does the same).
//!
//! `bpf_get_current_ancestor_cgroup_id` (kernel/bpf/helpers.c) came in 5.7
//! for cgroup programs only; tracing programs (`bpf_tracing_func_proto`,
//! kernel/trace/bpf_trace.c) got it later: Debian 11's 5.10 refuses it
//! ("unknown func bpf_get_current_ancestor_cgroup_id#123"), 6.1 allows it.
//!
//! A sibling of probes/, not in it: probes/ holds the ways of the probe plan
//! (recorder/src/probes.rs), each attached to catch events; these programs
//! are in no way of the plan, never attached, and loaded by
//! `recorder/src/loader.rs` alone. Imports nothing of this crate.

use aya_ebpf::{
    helpers::bpf_get_current_ancestor_cgroup_id, macros::tracepoint, programs::TracePointContext,
};

/// Loads exactly when `--cgroup` (filter.rs `should_trace`) can work.
#[tracepoint]
pub fn feature_ancestor_cgroup(_ctx: TracePointContext) -> u32 {
    // SAFETY: a helper call with a plain integer argument.
    unsafe { bpf_get_current_ancestor_cgroup_id(0) as u32 }
}
