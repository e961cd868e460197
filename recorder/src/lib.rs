//! The recorder: loads sockrec's eBPF programs, drains their events and
//! writes them to a capture file.
//!
//! - `probes.rs`: which probe catches which event kind (the probe plan).
//! - `kernel_fields.rs`: kernel struct offsets from BTF, for the programs.
//! - `loader.rs`: open → configure → load → attach.
//! - `recording.rs`: one recording, from first event to finished file, in
//!   its steps; `ring.rs` reads the kernel's records back as events,
//!   `writer.rs` is the thread that writes them to the capture, `live.rs`
//!   the one that hands them to live reports (`--report`).
//! - `options.rs`: what the user asked for, checked.
//! - `clock.rs`: the clocks events are timed by; `host.rs`: the host name
//!   and kernel release.
//!
//! "Batch" here means only the kernel's `MessageBatch` (a CPU's messages
//! handed over as one record); what one drain of the ring buffer takes
//! and hands to the writer is a chunk.

pub mod clock;
pub mod host;
pub mod kernel_fields;
pub mod live;
pub mod loader;
pub mod options;
pub mod privileges;
pub mod probes;
pub mod recording;
mod ring;
mod sock_inodes;
mod writer;

pub use live::LiveSink;
pub use options::{Filters, RecordOptions};
pub use recording::{RecordSummary, record};

/// The eBPF object built from `ebpf/sockrec-ebpf` by build.rs.
pub static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sockrec"));

/// The default ring buffer size: room for ~40k events between drains.
pub const DEFAULT_BUFFER_BYTES: u32 = 8 << 20;

#[cfg(test)]
mod tests {
    use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget, SectionIndex};
    use std::collections::BTreeSet;

    /// No program calls the object's `memset`, `memmove`, `memcpy`,
    /// `memcmp` or `bcmp`: in BPF they are loops over single bytes (a 200-
    /// byte event copy was ~1600 instructions on every call's exit), so
    /// the programs copy and zero in words instead (`probes::syscalls::copy_event`,
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

    /// `BPF_STX | BPF_ATOMIC` in its word and double-word sizes: what
    /// `BPF_CMPXCHG` and `BPF_XCHG` are encoded as (and atomic adds).
    const ATOMIC_OPCODES: [u8; 2] = [0xc3, 0xdb];

    /// Whether the program `name`, or any function it calls, holds an
    /// atomic instruction. Calls are followed as libbpf resolves them: a
    /// relocated call goes to `symbol + (imm + 1) * 8`, an unrelocated one
    /// `(imm + 1) * 8` past itself.
    fn holds_atomics(file: &object::File, name: &str) -> bool {
        let program = file
            .symbols()
            .find(|s| s.name() == Ok(name))
            .unwrap_or_else(|| panic!("no program {name} in the eBPF object"));
        let mut todo = vec![(program.section_index().unwrap(), program.address())];
        let mut seen = BTreeSet::new();
        while let Some((section_index, at)) = todo.pop() {
            if !seen.insert((section_index.0, at)) {
                continue;
            }
            let section = file.section_by_index(section_index).unwrap();
            let function = file
                .symbols()
                .filter(|s| s.section_index() == Some(section_index) && s.size() > 0)
                .find(|s| s.address() <= at && at < s.address() + s.size())
                .unwrap_or_else(|| panic!("no function at {at:#x} in {:?}", section.name()));
            let data = section.data().unwrap();
            let (start, end) = (function.address(), function.address() + function.size());
            let relocations: Vec<_> = section.relocations().collect();
            for off in (start..end).step_by(8) {
                let insn = &data[off as usize..off as usize + 8];
                if ATOMIC_OPCODES.contains(&insn[0]) {
                    return true;
                }
                // BPF_JMP | BPF_CALL with src_reg BPF_PSEUDO_CALL: a subprogram.
                if insn[0] != 0x85 || insn[1] >> 4 != 1 {
                    continue;
                }
                let imm = i32::from_le_bytes(insn[4..8].try_into().unwrap()) as i64;
                let step = (imm + 1) * 8;
                let target = match relocations.iter().find(|(o, _)| *o == off) {
                    Some((_, r)) => match r.target() {
                        RelocationTarget::Symbol(i) => {
                            let sym = file.symbol_by_index(i).unwrap();
                            (sym.section_index().unwrap(), sym.address() as i64 + step)
                        }
                        RelocationTarget::Section(i) => (i, step),
                        other => panic!("call relocated to {other:?}"),
                    },
                    None => (section_index, off as i64 + step),
                };
                todo.push((SectionIndex(target.0.0), target.1 as u64));
            }
        }
        false
    }

    /// A kernel before 5.12 refuses a program that holds an atomic
    /// instruction anywhere, reached or not ("BPF_STX uses reserved
    /// fields", the 5.10 guest): the `_hash` call programs it loads hold
    /// none, in them or in what they call. The slot programs do (their
    /// `BPF_CMPXCHG`), which shows the scan finds them.
    #[test]
    fn hash_call_programs_hold_no_atomics() {
        let file = object::File::parse(super::EBPF_OBJECT).unwrap();
        let mut checked = 0;
        for kind in sockrec_common::EventKind::ALL {
            for way in crate::probes::ways(kind) {
                for p in way.programs {
                    let Some(twin) = p.hash_twin else { continue };
                    assert!(
                        !holds_atomics(&file, twin),
                        "{twin} holds an atomic instruction"
                    );
                    if p.program.starts_with("sys_enter_") {
                        assert!(holds_atomics(&file, p.program), "{} holds none", p.program);
                    }
                    checked += 1;
                }
            }
        }
        assert_eq!(
            checked, 14,
            "7 calls (socket...accept4, listen), entry and exit"
        );
    }

    /// Every program the probe plan names is in the eBPF object: a renamed
    /// function fails here rather than quietly falling back to a worse way.
    #[test]
    fn every_planned_program_exists() {
        let file = object::File::parse(super::EBPF_OBJECT).unwrap();
        let names: BTreeSet<&str> = file.symbols().filter_map(|s| s.name().ok()).collect();
        for kind in sockrec_common::EventKind::ALL {
            for way in crate::probes::ways(kind) {
                for p in way.programs {
                    for name in [Some(p.program), p.hash_twin].into_iter().flatten() {
                        assert!(names.contains(name), "{}: no program {name}", way.probe);
                    }
                }
            }
        }
        for name in crate::loader::FEATURE_PROGRAMS {
            assert!(names.contains(name), "no feature program {name}");
        }
    }
}
