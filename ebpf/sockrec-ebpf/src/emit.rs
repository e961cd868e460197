//! Handing events to user space with few wakeups.
//!
//! Waking the reader for every event costs ~26 µs in a VM and made a UDP
//! send/recv loop 5.8x slower (aya's `PerfEventArray` wakes on every event,
//! as bpftrace's `printf` does). So events are submitted with
//! `BPF_RB_NO_WAKEUP`, and only once `WAKEUP_BYTES` are waiting do we force
//! a wakeup; user space also drains on a short timer, which bounds the delay
//! when traffic is light (kernel/bpf/ringbuf.c, `bpf_ringbuf_commit`).
//!
//! A leaf: imports config.rs and maps.rs.

use aya_ebpf::maps::ring_buf::RingBufEntry;
use sockrec_common::MessageEvent;

use crate::{
    config::wakeup_bytes,
    maps::{EVENTS, LOST},
};

const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
const BPF_RB_AVAIL_DATA: u64 = 0;

/// Reserves room for one event record, or counts it lost.
#[inline(always)]
pub fn reserve<T: 'static>() -> Option<RingBufEntry<T>> {
    let entry = EVENTS.reserve::<T>(0);
    if entry.is_none() {
        count_lost();
    }
    entry
}

/// Submits a filled event, waking user space only when enough is waiting.
#[inline(always)]
pub fn submit<T>(entry: RingBufEntry<T>) {
    entry.submit(wakeup_flag());
}

/// Copies a batch of messages into the ring buffer as one record, or counts
/// them all lost.
#[inline(always)]
pub fn output_messages(events: &[MessageEvent]) {
    if EVENTS
        .output::<[MessageEvent]>(events, wakeup_flag())
        .is_err()
    {
        count_lost_n(events.len() as u64);
    }
}

#[inline(always)]
fn wakeup_flag() -> u64 {
    if EVENTS.query(BPF_RB_AVAIL_DATA) >= wakeup_bytes() {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    }
}

/// One more event this CPU could not deliver.
#[inline(always)]
pub fn count_lost() {
    count_lost_n(1);
}

#[inline(always)]
fn count_lost_n(lost: u64) {
    if let Some(n) = LOST.get_ptr_mut(0) {
        // Per-CPU slot: no other writer can race with us.
        unsafe { *n += lost };
    }
}
