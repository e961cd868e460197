//! Calls between their entry and their exit, by thread: where the entry
//! program leaves a call for the exit program to finish.
//!
//! Two stores, each call program built for both (`SLOTS`, a const
//! parameter) and user space loading the one its kernel takes. Not a
//! run-time switch on a read-only global, as the task reader is: a kernel
//! before 5.12 refuses a program that merely contains `BPF_CMPXCHG` or
//! `BPF_XCHG`, reached or not (5.10's `resolve_pseudo_ldimm64` checks
//! every instruction: "BPF_STX uses reserved fields", seen in the 5.10
//! guest of `cargo xtask test-kernel 5.10`), so the hash programs must not
//! hold them at all.
//!
//! - **Slots** (Linux 5.12+, which has `BPF_CMPXCHG`): an array indexed by
//!   thread id. A thread claims a slot by swapping its `pid_tgid` into the
//!   slot's `owner` (0 when free), trying [`SLOT_TRIES`] slots from `tid` on
//!   (open addressing), builds the call in place and frees it at exit. The
//!   JIT inlines array lookups, so no helper runs, where the hash map below
//!   costs ~115 ns per insert here (measured by inserting twice) and its
//!   lookup and delete are helper calls too: the slots took the TCP loop's
//!   programs from 739 to 571 ns per event (docs/design.md).
//! - **Hash** (any kernel): `PENDING`, keyed by `pid_tgid`, the call built
//!   in a per-CPU scratch slot and copied in, as the seed's soconnect keeps
//!   `@start[tid]`.
//!
//! Either way a thread is in one syscall at a time, so its slot or key is
//! only ever written by itself; other threads only look at `owner`. What is
//! left in either when recording stops is written as "in flight".
//!
//! A leaf: imports maps.rs only.

use core::intrinsics::{AtomicOrdering, atomic_cxchg, atomic_xchg};
use sockrec_common::{PENDING_SLOT_COUNT, PendingCall};

use crate::maps::{PENDING, PENDING_SLOTS, SCRATCH};

/// How many slots a thread tries, from its own `tid & (PENDING_SLOT_COUNT - 1)`.
/// Threads running at once mostly have nearby, distinct ids, so the first
/// slot is nearly always free; a call that finds all four taken is
/// counted lost, as one that finds the hash map full.
const SLOT_TRIES: u32 = 4;

/// Where the entry builds a call: a slot it now owns, or the scratch slot
/// that [`save`] copies into the hash map.
#[inline(always)]
pub fn claim<const SLOTS: bool>(pid_tgid: u64) -> Option<&'static mut PendingCall> {
    if !SLOTS {
        let scratch = SCRATCH.get_ptr_mut(0)?;
        return Some(unsafe { &mut *scratch });
    }
    let tid = pid_tgid as u32;
    for i in 0..SLOT_TRIES {
        let slot = PENDING_SLOTS.get_ptr_mut(tid.wrapping_add(i) & (PENDING_SLOT_COUNT - 1))?;
        // SAFETY: a map value lives as long as the map; `owner` is 8-byte
        // aligned (the first field). The bpf target has no compare-and-swap
        // in `core::sync::atomic` (BPF v1 lacks it), so the intrinsic,
        // which LLVM emits as BPF_CMPXCHG.
        let (current, _) = unsafe {
            atomic_cxchg::<u64, { AtomicOrdering::SeqCst }, { AtomicOrdering::SeqCst }>(
                &raw mut (*slot).owner,
                0,
                pid_tgid,
            )
        };
        // Free, or this thread's own from a call whose exit never came
        // (the thread died in it and its id came back).
        if current == 0 || current == pid_tgid {
            return Some(unsafe { &mut *slot });
        }
    }
    None
}

/// Makes the call built in [`claim`]'s place visible to [`find`]; false if
/// there was no room (the hash map is full).
#[inline(always)]
pub fn save<const SLOTS: bool>(pid_tgid: u64, call: &PendingCall) -> bool {
    SLOTS || PENDING.insert(&pid_tgid, call, 0).is_ok()
}

/// The current thread's call in progress, if its entry was seen.
#[inline(always)]
pub fn find<const SLOTS: bool>(pid_tgid: u64) -> Option<&'static PendingCall> {
    if !SLOTS {
        let call = PENDING.get_ptr(&pid_tgid)?;
        return Some(unsafe { &*call });
    }
    let tid = pid_tgid as u32;
    for i in 0..SLOT_TRIES {
        let slot = PENDING_SLOTS.get_ptr(tid.wrapping_add(i) & (PENDING_SLOT_COUNT - 1))?;
        // SAFETY: as in `claim`.
        if unsafe { core::ptr::read_volatile(&raw const (*slot).owner) } == pid_tgid {
            return Some(unsafe { &*slot });
        }
    }
    None
}

/// Frees the current thread's call found by [`find`].
#[inline(always)]
pub fn release<const SLOTS: bool>(pid_tgid: u64, call: &PendingCall) {
    if SLOTS {
        // SAFETY: as in `claim`; only the owner frees its slot. A swap,
        // not a plain store, so that no other thread can claim the slot
        // before this one's reads of it are done (BPF_XCHG is a full
        // barrier; a plain store may be reordered before them on arm64).
        unsafe {
            atomic_xchg::<u64, { AtomicOrdering::SeqCst }>(&raw const call.owner as *mut u64, 0)
        };
    } else {
        let _ = PENDING.remove(&pid_tgid);
    }
}
