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
