//! Checking up front that we may load eBPF programs, so the user gets one
//! clear line instead of an EPERM from deep inside the loader.

use anyhow::{Result, bail};

/// Capability numbers from include/uapi/linux/capability.h.
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// The effective capability set of this process, from /proc/self/status.
fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
}

/// Fails unless we have root's power over BPF: CAP_SYS_ADMIN, or CAP_BPF
/// with CAP_PERFMON (Linux 5.8+, needed for tracing programs).
pub fn check() -> Result<()> {
    let Some(caps) = effective_caps() else {
        return Ok(()); // No /proc: let the loader say what fails.
    };
    let has = |cap: u32| caps & (1 << cap) != 0;
    if has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)) {
        return Ok(());
    }
    let mut missing = Vec::new();
    if !has(CAP_BPF) {
        missing.push("CAP_BPF");
    }
    if !has(CAP_PERFMON) {
        missing.push("CAP_PERFMON");
    }
    bail!(
        "recording needs root, or CAP_BPF and CAP_PERFMON (missing: {}); try sudo",
        missing.join(", ")
    )
}
