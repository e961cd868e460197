//! The recorder: loads sockrec's eBPF programs, drains their events and
//! writes them to a capture file.
//!
//! - `probes.rs`: which probe catches which event kind (the probe plan).
//! - `kernel_fields.rs`: kernel struct offsets from BTF, for the programs.
//! - `loader.rs`: open → configure → load → attach.
//! - `session.rs`: one recording, from first event to finished file.
//! - `options.rs`: what the user asked for, checked.

pub mod clock;
pub mod kernel_fields;
pub mod loader;
pub mod options;
pub mod privileges;
pub mod probes;
pub mod session;

pub use options::{Filters, RecordOptions};
pub use session::{RecordSummary, record};

/// The eBPF object built from `ebpf/sockrec-ebpf` by build.rs.
pub static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sockrec"));

/// The default ring buffer size: room for ~40k events between drains.
pub const DEFAULT_BUFFER_BYTES: u32 = 8 << 20;

#[cfg(test)]
mod tests {
    use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget};

    /// No program calls the object's `memset`, `memmove`, `memcpy`,
    /// `memcmp` or `bcmp`: in BPF they are loops over single bytes (a 200-
    /// byte event copy was ~1600 instructions on every call's exit), so
    /// the programs copy and zero in words instead (`syscalls::copy_event`,
    /// `task::current_comm`). A plain struct copy or `[0u8; N]` brings one
    /// back; this names the section that did.
    #[test]
    fn programs_call_no_byte_loop_builtins() {
        let file = object::File::parse(super::EBPF_OBJECT).unwrap();
        let builtins = ["memset", "memmove", "memcpy", "memcmp", "bcmp"];
        let mut calls = Vec::new();
        for section in file.sections() {
            for (_, reloc) in section.relocations() {
                let RelocationTarget::Symbol(index) = reloc.target() else {
                    continue;
                };
                let name = file
                    .symbol_by_index(index)
                    .and_then(|s| s.name())
                    .unwrap_or("");
                if builtins.contains(&name) {
                    calls.push(format!("{} -> {name}", section.name().unwrap_or("?")));
                }
            }
        }
        assert!(calls.is_empty(), "{calls:?}");
    }
}
