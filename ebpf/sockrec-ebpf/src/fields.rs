//! Reading kernel struct fields without compiled-in offsets.
//!
//! Rust eBPF has no CO-RE relocations yet, so user space resolves every
//! field we read from the running kernel's BTF (`/sys/kernel/btf/vmlinux`)
//! and passes the offsets in as the `FIELDS` global (config.rs; see
//! `recorder/src/kernel_fields.rs`). A field the kernel lacks has size 0 and
//! reads as `None` (or 0).
//!
//! Two ways to read: [`read`] and [`read_fields`] with
//! `bpf_probe_read_kernel`, for any kernel address, and [`btf_u16`] /
//! [`btf_u32`] / [`btf_u64`] with plain loads, for a pointer the verifier
//! knows the BTF type of.
//!
//! A leaf: imports config.rs only.

use aya_ebpf::helpers::generated::bpf_probe_read_kernel;
use core::{ffi::c_void, mem::MaybeUninit};
use sockrec_common::FieldSpec;

use crate::config::field;

/// Reads the field `spec` of the struct at `base` (a kernel address).
#[inline(always)]
pub fn read(base: u64, spec: &FieldSpec) -> Option<u64> {
    let f = field(spec);
    if f.size == 0 || base == 0 {
        return None;
    }
    let mut v: u64 = 0;
    // Clamp so the verifier sees a bounded size (1..=8).
    let size = if f.size > 8 { 8 } else { f.size as u32 };
    let r = unsafe {
        bpf_probe_read_kernel(
            (&mut v as *mut u64).cast::<c_void>(),
            size,
            (base + f.offset as u64) as *const c_void,
        )
    };
    if r != 0 {
        return None;
    }
    Some(bitfield(v, &f))
}

/// The value of field `f` from its bytes `v` (little-endian): `v` itself,
/// or for a bitfield (e.g. sk_protocol before Linux 5.6) the `bits` that
/// start `shift` bits in.
#[inline(always)]
fn bitfield(v: u64, f: &FieldSpec) -> u64 {
    if f.bits == 0 {
        return v;
    }
    (v >> (f.shift & 63)) & ((1u64 << (f.bits & 63)) - 1)
}

/// The 16 bytes of the field `spec` (an IPv6 address) of the struct at
/// `base`, or `None` if the kernel lacks it or it cannot be read.
#[inline(always)]
pub fn read16(base: u64, spec: &FieldSpec) -> Option<[u8; 16]> {
    let f = field(spec);
    if f.size != 16 || base == 0 {
        return None;
    }
    // Not zeroed first, as in `read_fields`.
    let mut a = MaybeUninit::<[u8; 16]>::uninit();
    let r = unsafe {
        bpf_probe_read_kernel(
            a.as_mut_ptr().cast::<c_void>(),
            16,
            (base + f.offset as u64) as *const c_void,
        )
    };
    // SAFETY: written whole by the helper (zeros on failure).
    (r == 0).then(|| unsafe { a.assume_init() })
}

/// How many bytes [`read_fields`] reads at once.
const WINDOW: u32 = 32;

/// The fields `specs` of the struct at `base`: with one
/// `bpf_probe_read_kernel` when they all lie within [`WINDOW`] bytes, one
/// each otherwise. Each read costs 25-40 ns here, mostly the call, not the
/// bytes. The offsets come from `FIELDS`, which the verifier sees as
/// constants, so it settles the choice at load time and checks every
/// access to the window at a fixed offset.
#[inline(always)]
pub fn read_fields<const N: usize>(base: u64, specs: [&FieldSpec; N]) -> Option<[u64; N]> {
    let mut lo = u32::MAX;
    let mut hi = 0;
    for spec in specs {
        let f = field(spec);
        if f.size == 0 || f.size > 8 {
            return None;
        }
        lo = lo.min(f.offset);
        hi = hi.max(f.offset + f.size as u32);
    }
    let mut out = [0u64; N];
    if base == 0 || hi - lo > WINDOW {
        for (o, spec) in out.iter_mut().zip(specs) {
            *o = read(base, spec)?;
        }
        return Some(out);
    }
    // Not zeroed first: the helper writes every byte (zeros on failure),
    // and `[0u8; N]` became a call to a one-byte-per-turn `memset`.
    let mut window = MaybeUninit::<[u8; WINDOW as usize]>::uninit();
    let r = unsafe {
        bpf_probe_read_kernel(
            window.as_mut_ptr().cast::<c_void>(),
            WINDOW,
            (base + lo as u64) as *const c_void,
        )
    };
    if r != 0 {
        return None;
    }
    // SAFETY: written whole by the helper above.
    let window = unsafe { window.assume_init() };
    for (o, spec) in out.iter_mut().zip(specs) {
        let f = field(spec);
        let at = (f.offset - lo) as usize;
        let mut v = 0u64;
        // Little-endian: the field's bytes, lowest first.
        for i in 0..8 {
            if i < f.size as usize && at + i < WINDOW as usize {
                v |= (window[at + i] as u64) << (8 * i);
            }
        }
        *o = bitfield(v, &f);
    }
    Some(out)
}

/// Plain loads of the field `spec` of the struct at `base`, for a `base`
/// the verifier knows the BTF type of (a `tp_btf` argument,
/// `bpf_get_current_task_btf()`, or a pointer loaded from those). Such
/// loads are checked against the kernel's BTF at load time and cost no
/// helper call (`bpf_probe_read_kernel` is 25-35 ns here). The verifier
/// sees `spec` as a constant (`FIELDS` is in the frozen, read-only
/// `.rodata`), so the size test below is settled at load time. A NULL or
/// bad pointer reads as 0 (the JIT's exception table). A field whose size
/// is not the one asked for (missing: 0; a bitfield) reads as 0.
macro_rules! btf_load {
    ($name:ident, $t:ty) => {
        #[inline(always)]
        pub fn $name(base: u64, spec: &FieldSpec) -> $t {
            let f = field(spec);
            if f.size as usize != size_of::<$t>() || f.bits != 0 {
                return 0;
            }
            // SAFETY: see above; the verifier lets the load through only
            // within the BTF type.
            unsafe { core::ptr::read_volatile((base + f.offset as u64) as *const $t) }
        }
    };
}
btf_load!(btf_u8, u8);
btf_load!(btf_u16, u16);
btf_load!(btf_u32, u32);
btf_load!(btf_u64, u64);
