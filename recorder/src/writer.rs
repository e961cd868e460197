//! The writer thread: drained chunks of events in, Parquet row groups out
//! in time order, the file readable at least every [`FLUSH_EVERY`] so a
//! killed recorder loses at most that much. It alone waits on the disk;
//! the drain waits on it only when its queue is full.

use anyhow::{Context as _, Result, anyhow};
use sockrec_capture::{CaptureWriter, EventBatch};
use sockrec_common::{EventKind, SocketEvent};
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use crate::{
    clock,
    live::{LIVE_EVERY, LiveFeed, LiveSink},
    probes::ProbeOfKind,
    ring::{CHUNK_CAPACITY, DRAIN_CHUNK},
    sock_inodes::SockInodes,
};

/// The longest a flushed event waits before the file on disk holds it.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);
/// A row group ends at this many rows, to bound the memory of the one being
/// built (~160 bytes a row before encoding); ended row groups wait, encoded
/// (a few bytes a row), for the next flush. Row groups of 64 Ki rows ended
/// apart from flushes, instead of a flush every 128 Ki rows, took the busy
/// recording's peak RSS from 89 to 80 MiB (`cargo xtask bench memory
/// --quick`), and the file's size does not move with the row group size
/// (`bench size`).
const ROW_GROUP_ROWS: usize = 1 << 16;
/// Flush sooner when this many encoded bytes wait in memory (8 MiB: 84 MiB
/// peak RSS; 4 MiB: 80).
const SPOOL_BYTES: u64 = 4 << 20;
/// The writer puts this many events at a time in time order (events arrive
/// in per-CPU batches): sorting each drain of 4 Ki alone left the UDP
/// loop's `time` column at 1.02-1.06 bytes per event, windows of 16 Ki at
/// 0.88-1.00 (`cargo xtask bench size`, runs vary by ~0.1).
const SORT_WINDOW: usize = 1 << 14;
/// Chunks waiting for the writer; past this the drain waits, the ring
/// buffer fills and the kernel counts what it drops as lost.
const WRITER_QUEUE: usize = 8;

/// What the drain sends the writer thread.
enum ToWriter {
    /// A drained chunk of events, in the order the ring held them.
    Events(Vec<SocketEvent>),
    /// Each CPU's count of events the kernel dropped so far.
    Lost(Vec<u64>),
}

/// The drain's end of the writer thread.
pub struct Writer {
    queue: mpsc::SyncSender<ToWriter>,
    /// Chunks the writer emptied, for the drain to fill again.
    recycled: mpsc::Receiver<Vec<SocketEvent>>,
    /// The capture's size after the writer's last flush.
    bytes_on_disk: Arc<AtomicU64>,
    thread: thread::JoinHandle<Result<u64>>,
}

impl Writer {
    /// Starts the writer thread over `capture` (none: `sockrec watch`);
    /// `probe_of_kind` names the probe of each event kind
    /// (`loader::Loaded::probe_of_kind`). With a `live` sink, the writer
    /// hands it the rows it writes too (live.rs).
    pub fn start(
        capture: Option<CaptureWriter>,
        rows_of: RowsOf,
        probe_of_kind: ProbeOfKind,
        live: Option<Box<dyn LiveSink>>,
    ) -> Result<Writer> {
        let bytes_on_disk = Arc::new(AtomicU64::new(0));
        let (queue, rx) = mpsc::sync_channel::<ToWriter>(WRITER_QUEUE);
        let writer_bytes = Arc::clone(&bytes_on_disk);
        let live = live.map(LiveFeed::start).transpose()?;
        // The writer hands emptied chunks back for the drain to fill again: a
        // fresh multi-MB Vec per drain (mmap'd, see `recording::record`) cost
        // page faults on every one, doubling the recorder's CPU per event.
        let (recycle_tx, recycled) = mpsc::sync_channel::<Vec<SocketEvent>>(2);
        // Named, so that its CPU time shows apart from the drain's (`top -H`,
        // /proc/PID/task; `cargo xtask bench throughput` reads it).
        let thread = thread::Builder::new()
            .name("sockrec-writer".into())
            .spawn(move || {
                write_loop(
                    capture,
                    rows_of,
                    rx,
                    recycle_tx,
                    probe_of_kind,
                    writer_bytes,
                    live,
                )
            })
            .context("starting the capture writer thread")?;
        Ok(Writer {
            queue,
            recycled,
            bytes_on_disk,
            thread,
        })
    }

    /// An empty chunk to drain into: one the writer handed back, else new.
    pub fn empty_chunk(&self) -> Vec<SocketEvent> {
        self.recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK_CAPACITY))
    }

    /// Queues a drained chunk; waits while the queue is full.
    pub fn send_events(&self, chunk: Vec<SocketEvent>) {
        let _ = self.queue.send(ToWriter::Events(chunk));
    }

    /// Queues the lost counts per CPU, for the capture's footer.
    pub fn send_lost(&self, lost: Vec<u64>) {
        let _ = self.queue.send(ToWriter::Lost(lost));
    }

    /// The capture's size on disk as of the writer's last flush.
    pub fn bytes_on_disk(&self) -> u64 {
        self.bytes_on_disk.load(Ordering::Relaxed)
    }

    /// Closes the queue and waits for the writer to write what it holds and
    /// finish the file; returns the file's size.
    pub fn finish(self) -> Result<u64> {
        drop(self.queue);
        self.thread
            .join()
            .map_err(|_| anyhow!("capture writer thread panicked"))?
    }
}

/// The writer thread: chunks in, row groups out, readable every FLUSH_EVERY.
/// Without a capture (`sockrec watch`) it only hands rows to `live`.
fn write_loop(
    mut capture: Option<CaptureWriter>,
    rows_of: RowsOf,
    rx: mpsc::Receiver<ToWriter>,
    recycle: mpsc::SyncSender<Vec<SocketEvent>>,
    probe_of_kind: ProbeOfKind,
    bytes: Arc<AtomicU64>,
    live: Option<LiveFeed>,
) -> Result<u64> {
    let mut last_flush = Instant::now();
    // With live reports, events leave the sort window at least every
    // LIVE_EVERY (the live rows are built beside the capture's), so a
    // report shows an event within a second of it.
    let mut last_live = Instant::now();
    let live_on = live.is_some();
    let mut live = live.map(|feed| (feed, EventBatch::new(rows_of.boot_time_ns)));
    // Events wait here until SORT_WINDOW of them can be put in time order
    // together (see SortWindow).
    let mut window = SortWindow::with_capacity(SORT_WINDOW + DRAIN_CHUNK);
    // Lost counts changed since the last flush: the footer must say so even
    // if no event came.
    let mut lost_changed = false;
    let mut inodes = SockInodes::default();
    let mut push_window = |capture: &mut Option<CaptureWriter>, window: &mut SortWindow| {
        window.take_in_time_order(|ev| {
            let probe = probe_name(&probe_of_kind, ev.kind);
            let filled;
            let ev = if ev.sock == 0 {
                ev
            } else {
                // Rows of a known `struct sock`: connects, accepts, TCP events.
                let mut copy = *ev;
                inodes.fill(&mut copy);
                filled = copy;
                &filled
            };
            if let Some(capture) = capture {
                capture.push(ev, probe);
            }
            if let Some((_, rows)) = &mut live {
                rows.push(ev, probe);
            }
        });
        if let Some((feed, rows)) = &mut live
            && !rows.is_empty()
        {
            // The same conversion as the capture's: a failure here would
            // be the capture's too, and is reported when that fails.
            if let Ok(batch) = rows.finish(&rows_of.host) {
                feed.send(batch);
            }
        }
    };
    loop {
        let mut timeout = FLUSH_EVERY.saturating_sub(last_flush.elapsed());
        if live_on {
            timeout = timeout.min(LIVE_EVERY.saturating_sub(last_live.elapsed()));
        }
        match rx.recv_timeout(timeout) {
            Ok(ToWriter::Events(mut events)) => {
                window.extend(&events);
                events.clear();
                let _ = recycle.try_send(events);
                if window.len() >= SORT_WINDOW {
                    push_window(&mut capture, &mut window);
                }
            }
            Ok(ToWriter::Lost(lost)) => {
                if let Some(capture) = &mut capture
                    && capture.meta().lost != lost
                {
                    capture.meta_mut().lost = lost;
                    lost_changed = true;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if let Some(capture) = &mut capture
            && capture.buffered_rows() >= ROW_GROUP_ROWS
        {
            capture.end_row_group().context("writing the capture")?;
        }
        let due = last_flush.elapsed() >= FLUSH_EVERY;
        let live_due = live_on && last_live.elapsed() >= LIVE_EVERY;
        if due || live_due {
            // A flush takes every event received so far.
            push_window(&mut capture, &mut window);
            last_live = Instant::now();
        }
        if let Some(capture) = &mut capture {
            // Each flush writes the whole footer (~2 KB a row group so
            // far): skip the ones that would write nothing new, and flush
            // on size only when the encoded row groups waiting grow large.
            let waiting = capture.buffered_rows() > 0 || capture.spooled_bytes() > 0;
            if (due && (waiting || lost_changed)) || capture.spooled_bytes() >= SPOOL_BYTES {
                capture.meta_mut().end_ns = clock::now_wall_ns();
                capture.flush().context("writing the capture")?;
                bytes.store(capture.bytes_written(), Ordering::Relaxed);
                lost_changed = false;
            }
        }
        if due {
            last_flush = Instant::now();
        }
    }
    push_window(&mut capture, &mut window);
    let written = match capture {
        Some(mut capture) => {
            capture.meta_mut().end_ns = clock::now_wall_ns();
            capture.finish().context("finishing the capture")?.bytes
        }
        None => 0,
    };
    // The capture is whole before the live reports print their summaries:
    // a report that fails can't cost the recording.
    if let Some((feed, _)) = live {
        feed.finish().context("live report")?;
    }
    Ok(written)
}

/// What the rows of a recording say of it (the capture's `host`, and the
/// boot time its `time` column counts from), with or without a capture.
pub struct RowsOf {
    pub host: String,
    pub boot_time_ns: i64,
}

/// Events waiting to be put in time order together.
///
/// The ring holds records in the order CPUs handed them over, and
/// messages come in per-CPU batches (MessageBatch): put each window of
/// events in time order, which readers expect and the delta-encoded time
/// columns compress far better. (Sorting keys, not the 200-byte events.)
struct SortWindow {
    events: Vec<SocketEvent>,
    /// The sort keys, `(time_ns, index in events)`, in a reused buffer too.
    order: Vec<(u64, usize)>,
}

impl SortWindow {
    fn with_capacity(events: usize) -> SortWindow {
        SortWindow {
            events: Vec::with_capacity(events),
            order: Vec::with_capacity(events),
        }
    }

    fn extend(&mut self, events: &[SocketEvent]) {
        self.events.extend_from_slice(events);
    }

    fn len(&self) -> usize {
        self.events.len()
    }

    /// Hands every event to `push` in time order, events of equal time in
    /// the order they came (the index in the key breaks ties), and empties
    /// the window.
    fn take_in_time_order(&mut self, mut push: impl FnMut(&SocketEvent)) {
        self.order.clear();
        self.order.extend(
            self.events
                .iter()
                .enumerate()
                .map(|(i, ev)| (ev.time_ns, i)),
        );
        self.order.sort_unstable();
        for &(_, i) in &self.order {
            push(&self.events[i]);
        }
        self.events.clear();
    }
}

/// The probe that caught an event of wire kind `kind`: the one the probe
/// plan attached for it, else the kind's name, else "unknown".
fn probe_name(probe_of_kind: &ProbeOfKind, kind: u8) -> &'static str {
    probe_of_kind
        .get(kind as usize)
        .copied()
        .filter(|p| !p.is_empty())
        .or_else(|| EventKind::from_u8(kind).map(|k| k.name()))
        .unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event at `time_ns`, told apart from others by `pid`.
    fn event(time_ns: u64, pid: u32) -> SocketEvent {
        SocketEvent {
            pid,
            ..SocketEvent::new(EventKind::Send, time_ns)
        }
    }

    fn in_time_order(window: &mut SortWindow) -> Vec<(u64, u32)> {
        let mut out = vec![];
        window.take_in_time_order(|ev| out.push((ev.time_ns, ev.pid)));
        out
    }

    #[test]
    fn a_window_comes_out_in_time_order_equal_times_as_they_came() {
        let mut window = SortWindow::with_capacity(8);
        // Two CPUs' batches, interleaved in time.
        window.extend(&[event(30, 1), event(10, 2), event(20, 3)]);
        window.extend(&[event(20, 4), event(5, 5), event(30, 6), event(20, 7)]);
        assert_eq!(window.len(), 7);
        assert_eq!(
            in_time_order(&mut window),
            [(5, 5), (10, 2), (20, 3), (20, 4), (20, 7), (30, 1), (30, 6)]
        );
        assert_eq!(window.len(), 0, "taken out");
        assert_eq!(in_time_order(&mut window), []);
        // Reused: nothing of the last window comes back.
        window.extend(&[event(2, 8), event(1, 9)]);
        assert_eq!(in_time_order(&mut window), [(1, 9), (2, 8)]);
    }

    #[test]
    fn a_kind_is_named_by_its_probe_else_its_name_else_unknown() {
        let mut probes = [""; EventKind::ALL.len() + 1];
        probes[EventKind::Send as usize] = "tp_btf/sock_send_length";
        assert_eq!(
            probe_name(&probes, EventKind::Send as u8),
            "tp_btf/sock_send_length"
        );
        // Not attached here (no probe in the table): the kind's name.
        assert_eq!(probe_name(&probes, EventKind::Recv as u8), "recv");
        assert_eq!(probe_name(&probes, EventKind::Accept4 as u8), "accept4");
        // Kinds the wire format does not have.
        assert_eq!(probe_name(&probes, 0), "unknown");
        assert_eq!(
            probe_name(&probes, EventKind::ALL.len() as u8 + 1),
            "unknown"
        );
        assert_eq!(probe_name(&probes, u8::MAX), "unknown");
    }
}
