//! The clocks a capture's times are read against.
//!
//! Events carry `bpf_ktime_get_boot_ns()` (CLOCK_BOOTTIME, counts suspend);
//! the capture stores the wall-clock time of boot so any reader can turn
//! them into wall-clock times.

fn clock_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and out pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// Now, in ns since the Unix epoch.
pub fn now_wall_ns() -> i64 {
    clock_ns(libc::CLOCK_REALTIME)
}

/// The wall-clock time of boot in ns since the Unix epoch: add an event's
/// `time_ns` to get its wall-clock time.
pub fn boot_time_ns() -> i64 {
    // Read the two clocks close together; the smaller gap of a few tries wins.
    (0..3)
        .map(|_| {
            let b = clock_ns(libc::CLOCK_BOOTTIME);
            let w = clock_ns(libc::CLOCK_REALTIME);
            let b2 = clock_ns(libc::CLOCK_BOOTTIME);
            (b2 - b, w - (b + b2) / 2)
        })
        .min()
        .map(|(_, t)| t)
        .unwrap_or(0)
}
