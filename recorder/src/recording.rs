//! One recording: drain the ring buffer until the deadline or a signal,
//! hand events to the capture writer, and finish cleanly.
//!
//! Two threads: the tokio task drains the ring buffer (woken by the kernel
//! once `wakeup_bytes` wait, and by a 100 ms tick otherwise) and never
//! blocks on disk; a writer thread turns batches into Parquet row groups
//! and makes the file readable at least every [`FLUSH_EVERY`], so a killed
//! recorder loses at most that much.

use anyhow::{Context as _, Result};
use aya::maps::{MapData, PerCpuArray};
use sockrec_capture::terminal::escape;
use sockrec_capture::{CaptureMeta, CaptureWriter, NewCapture};
use sockrec_common::{EventKind, FLAG_IN_FLIGHT, MESSAGE_BATCH, MessageEvent, SocketEvent};
use std::{
    io::Write as _,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};
use tokio::{
    io::{Interest, unix::AsyncFd},
    signal::unix::SignalKind,
};

use crate::{clock, host, loader, options::RecordOptions};

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
/// The most events one drain takes before the loop looks at signals, the
/// deadline and the writer again (a fast producer could otherwise keep it
/// draining forever). Also the size of a batch handed to the writer: 4 Ki
/// events of 200 bytes, so a full writer queue holds ~7 MB (16 Ki made the
/// busy recording's peak RSS 99 MiB, 4 Ki 89: `cargo xtask bench memory`).
const DRAIN_CHUNK: usize = 1 << 12;
/// The writer puts this many events at a time in time order (events arrive
/// in per-CPU batches): sorting each drain of 4 Ki alone left the UDP
/// loop's `time` column at 1.02-1.06 bytes per event, windows of 16 Ki at
/// 0.88-1.00 (`cargo xtask bench size`, runs vary by ~0.1).
const SORT_WINDOW: usize = 1 << 14;
/// Batches waiting for the writer; past this the drain waits, the ring
/// buffer fills and the kernel counts what it drops as lost.
const WRITER_QUEUE: usize = 8;
/// How often the drain wakes on its own when the kernel has not woken it.
const TICK: Duration = Duration::from_millis(100);

/// What a finished recording reports.
#[derive(Debug)]
pub struct RecordSummary {
    pub events: u64,
    pub in_flight: u64,
    pub lost_per_cpu: Vec<u64>,
    pub bytes: u64,
    pub elapsed: Duration,
    pub probes: Vec<String>,
}

impl RecordSummary {
    pub fn lost(&self) -> u64 {
        self.lost_per_cpu.iter().sum()
    }
}

enum ToWriter {
    Batch(Vec<SocketEvent>),
    Lost(Vec<u64>),
}

/// Records until `opts.duration` passes or SIGINT/SIGTERM arrives.
pub fn record(opts: &RecordOptions) -> Result<RecordSummary> {
    // glibc raises its mmap threshold each time a large block is freed; then
    // the writer's per-row-group buffers (MBs, made and freed every flush)
    // come from its heap and fragment it: RSS crept from 59 to 163 MiB over
    // a 60 s busy recording. A fixed threshold (glibc's initial 128 KiB)
    // keeps them in mmap, returned on free. The drain's batches, which
    // would then cost page faults each, are recycled instead (below).
    // SAFETY: mallopt only tunes the allocator; called before our threads.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024) };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(record_async(opts))
}

async fn record_async(opts: &RecordOptions) -> Result<RecordSummary> {
    // The file first, before loading anything: a path that cannot be
    // written fails with nothing loaded, and an existing capture is
    // replaced (with --force) only once the recording has begun.
    let file = NewCapture::create(&opts.output, opts.force)?;
    let wakeup = u64::from(opts.buffer_bytes / 4);
    let mut loaded = loader::load(&opts.filters, opts.buffer_bytes, wakeup)?;
    let mut probes: Vec<String> = loaded.outcomes.iter().map(|o| o.describe()).collect();
    probes.push(loaded.code.describe());
    for o in &loaded.outcomes {
        if o.attached.is_none() {
            eprintln!("sockrec: warning: not recording {}", o.describe());
        }
    }

    let start = clock::now_wall_ns();
    let meta = CaptureMeta {
        host: host::host_name(),
        kernel: host::kernel_release(),
        boot_time_ns: clock::boot_time_ns(),
        start_ns: start,
        end_ns: start,
        probes: probes.join("\n"),
        lost: vec![0; loaded.lost.get(&0, 0).map(|v| v.len()).unwrap_or(0)],
        filters: opts.filters.describe(),
        sockrec_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let writer = CaptureWriter::new(file, meta)?;
    // Take over SIGINT/SIGTERM before saying we record, so a signal sent as
    // soon as the line below appears finishes the file instead of killing us.
    let mut sigint = tokio::signal::unix::signal(SignalKind::interrupt())?;
    let mut sigterm = tokio::signal::unix::signal(SignalKind::terminate())?;
    // Scripts (and the tests) wait for this line: from here on, nothing is missed.
    eprintln!(
        "sockrec: recording to {} ({})",
        escape(&opts.output.display().to_string()),
        match opts.duration {
            Some(d) => format!("for {}", humantime::format_duration(d)),
            None => "Ctrl-C to stop".to_string(),
        }
    );
    let bytes_on_disk = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::sync_channel::<ToWriter>(WRITER_QUEUE);
    let probe_of_kind = loaded.probe_of_kind;
    let writer_bytes = Arc::clone(&bytes_on_disk);
    // The writer hands emptied batches back for the drain to fill again: a
    // fresh multi-MB Vec per drain (mmap'd, see above) cost page faults on
    // every one, doubling the recorder's CPU per event.
    let (recycle_tx, recycle) = mpsc::sync_channel::<Vec<SocketEvent>>(2);
    // Named, so that its CPU time shows apart from the drain's (`top -H`,
    // /proc/PID/task; `cargo xtask bench throughput` reads it).
    let writer_thread = thread::Builder::new()
        .name("sockrec-writer".into())
        .spawn(move || write_loop(writer, rx, recycle_tx, probe_of_kind, writer_bytes))
        .context("starting the capture writer thread")?;
    let next_batch = || {
        recycle
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(DRAIN_CHUNK + MESSAGE_BATCH))
    };

    let started = Instant::now();
    let deadline = opts.duration.map(|d| started + d);
    // SAFETY: the ring buffer owns its map fd for as long as the AsyncFd
    // owns the ring buffer, and as_raw_fd always returns that fd.
    let mut ring = unsafe { AsyncFd::register_with_interest(loaded.events, Interest::READABLE) }
        .map_err(std::io::Error::from)?;
    let mut tick = tokio::time::interval(TICK);
    let mut events = 0u64;
    let mut last_status = Instant::now();
    let mut status_events = 0u64;
    let mut batch = next_batch();
    // The last drain stopped at DRAIN_CHUNK with more waiting: go on at once.
    let mut more = false;
    loop {
        let sleep_until = deadline.unwrap_or(started + Duration::from_secs(100 * 365 * 86400));
        // biased: a signal or the deadline wins over draining, so a producer
        // faster than us cannot keep the recorder from stopping.
        tokio::select! {
            biased;
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = tokio::time::sleep_until(sleep_until.into()) => break,
            _ = std::future::ready(()), if more => {}
            guard = ring.readable_mut() => guard?.clear_ready(),
            _ = tick.tick() => {}
        }
        let (n, full) = drain(ring.get_mut(), &mut batch, DRAIN_CHUNK);
        events += n;
        more = full;
        if !batch.is_empty() {
            let full = std::mem::replace(&mut batch, next_batch());
            let _ = tx.send(ToWriter::Batch(full));
        }
        if last_status.elapsed() >= Duration::from_secs(1) {
            let lost = read_lost(&loaded.lost);
            if opts.status {
                let secs = last_status.elapsed().as_secs_f64();
                let rate = (events - status_events) as f64 / secs;
                status_line(
                    started.elapsed(),
                    rate,
                    bytes_on_disk.load(Ordering::Relaxed),
                    lost.iter().sum(),
                );
            }
            let _ = tx.send(ToWriter::Lost(lost));
            status_events = events;
            last_status = Instant::now();
        }
    }
    if opts.status {
        eprintln!();
    }

    // Stop producing, then take what is still in the ring and in flight.
    loader::detach_all(&mut loaded.ebpf);
    loop {
        // In chunks, as while recording: a full ring is 8 MiB of records.
        let (n, full) = drain(ring.get_mut(), &mut batch, DRAIN_CHUNK);
        events += n;
        if !full {
            break;
        }
        let chunk = std::mem::replace(&mut batch, next_batch());
        let _ = tx.send(ToWriter::Batch(chunk));
    }
    // Messages the CPUs still held in their batches.
    for map in &loaded.batches {
        let Ok(per_cpu) = map.get(&0, 0) else {
            continue;
        };
        for held in per_cpu.iter() {
            let len = (held.len as usize).min(MESSAGE_BATCH);
            batch.extend(held.events[..len].iter().map(MessageEvent::to_socket_event));
            events += len as u64;
        }
    }
    let mut in_flight = 0u64;
    for mut ev in loaded.pending.in_flight() {
        ev.flags |= FLAG_IN_FLIGHT;
        batch.push(ev);
        in_flight += 1;
    }
    let lost = read_lost(&loaded.lost);
    let _ = tx.send(ToWriter::Batch(batch));
    let _ = tx.send(ToWriter::Lost(lost.clone()));
    drop(tx);
    let written = writer_thread
        .join()
        .map_err(|_| anyhow::anyhow!("capture writer thread panicked"))??;
    Ok(RecordSummary {
        events: events + in_flight,
        in_flight,
        lost_per_cpu: lost,
        bytes: written,
        elapsed: started.elapsed(),
        probes,
    })
}

const SOCKET_EVENT: usize = size_of::<SocketEvent>();
const MESSAGE_EVENT: usize = size_of::<MessageEvent>();

/// Moves up to `max` events waiting in the ring buffer into `batch`;
/// returns how many, and whether it stopped at `max` (more may wait).
fn drain(
    ring: &mut aya::maps::RingBuf<MapData>,
    batch: &mut Vec<SocketEvent>,
    max: usize,
) -> (u64, bool) {
    let mut n = 0;
    while n < max as u64 {
        let Some(item) = ring.next() else {
            return (n, false);
        };
        // SAFETY: the kernel wrote whole records of the layout the length
        // names (repr(C), any bit pattern valid); read unaligned to be safe.
        if item.len() == SOCKET_EVENT {
            batch.push(unsafe { std::ptr::read_unaligned(item.as_ptr().cast::<SocketEvent>()) });
            n += 1;
        } else {
            // A CPU's batch of messages (MessageBatch): 64 bytes each.
            for msg in item.chunks_exact(MESSAGE_EVENT) {
                let ev = unsafe { std::ptr::read_unaligned(msg.as_ptr().cast::<MessageEvent>()) };
                batch.push(ev.to_socket_event());
                n += 1;
            }
        }
    }
    (n, true)
}

fn read_lost(lost: &PerCpuArray<MapData, u64>) -> Vec<u64> {
    lost.get(&0, 0).map(|v| v.to_vec()).unwrap_or_default()
}

fn status_line(elapsed: Duration, rate: f64, bytes: u64, lost: u64) {
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r\x1b[Krecording {:>6.1}s  {:>9.0} events/s  {:>8.2} MB written  {} lost",
        elapsed.as_secs_f64(),
        rate,
        bytes as f64 / 1e6,
        lost
    );
    let _ = err.flush();
}

/// The writer thread: batches in, row groups out, readable every FLUSH_EVERY.
fn write_loop(
    mut writer: CaptureWriter,
    rx: mpsc::Receiver<ToWriter>,
    recycle: mpsc::SyncSender<Vec<SocketEvent>>,
    probe_of_kind: [&'static str; 9],
    bytes: Arc<AtomicU64>,
) -> Result<u64> {
    let mut last_flush = Instant::now();
    // Events wait here until SORT_WINDOW of them can be put in time order
    // together (see below); the sort keys go in a reused buffer too.
    let mut window: Vec<SocketEvent> = Vec::with_capacity(SORT_WINDOW + DRAIN_CHUNK);
    let mut order: Vec<(u64, usize)> = Vec::with_capacity(SORT_WINDOW + DRAIN_CHUNK);
    // Lost counts changed since the last flush: the footer must say so even
    // if no event came.
    let mut lost_changed = false;
    let probe = |kind: u8| -> &'static str {
        probe_of_kind
            .get(kind as usize)
            .copied()
            .filter(|p| !p.is_empty())
            .or_else(|| EventKind::from_u8(kind).map(|k| k.name()))
            .unwrap_or("unknown")
    };
    // The ring holds records in the order CPUs handed them over, and
    // messages come in per-CPU batches (MessageBatch): put each window of
    // events in time order, which readers expect and the delta-encoded time
    // columns compress far better. (Sorting keys, not the 200-byte events.)
    let mut push_window = |writer: &mut CaptureWriter, window: &mut Vec<SocketEvent>| {
        order.clear();
        order.extend(window.iter().enumerate().map(|(i, ev)| (ev.time_ns, i)));
        order.sort_unstable();
        for &(_, i) in &order {
            let ev = &window[i];
            writer.push(ev, probe(ev.kind));
        }
        window.clear();
    };
    loop {
        let timeout = FLUSH_EVERY.saturating_sub(last_flush.elapsed());
        match rx.recv_timeout(timeout) {
            Ok(ToWriter::Batch(mut events)) => {
                window.extend_from_slice(&events);
                events.clear();
                let _ = recycle.try_send(events);
                if window.len() >= SORT_WINDOW {
                    push_window(&mut writer, &mut window);
                }
            }
            Ok(ToWriter::Lost(lost)) => {
                if writer.meta().lost != lost {
                    writer.meta_mut().lost = lost;
                    lost_changed = true;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if writer.buffered_rows() >= ROW_GROUP_ROWS {
            writer.end_row_group().context("writing the capture")?;
        }
        let due = last_flush.elapsed() >= FLUSH_EVERY;
        if due {
            // A flush takes every event received so far.
            push_window(&mut writer, &mut window);
        }
        // Each flush writes the whole footer (~2 KB a row group so far):
        // skip the ones that would write nothing new, and flush on size only
        // when the encoded row groups waiting grow large.
        let waiting = writer.buffered_rows() > 0 || writer.spooled_bytes() > 0;
        if (due && (waiting || lost_changed)) || writer.spooled_bytes() >= SPOOL_BYTES {
            writer.meta_mut().end_ns = clock::now_wall_ns();
            writer.flush().context("writing the capture")?;
            bytes.store(writer.bytes_written(), Ordering::Relaxed);
            lost_changed = false;
        }
        if due {
            last_flush = Instant::now();
        }
    }
    push_window(&mut writer, &mut window);
    writer.meta_mut().end_ns = clock::now_wall_ns();
    let summary = writer.finish().context("finishing the capture")?;
    Ok(summary.bytes)
}
