//! The live path (`sockrec record --report`): the recording's events, as
//! rows of the capture, handed to a [`LiveSink`] on a thread of its own
//! while the writer goes on writing the capture.
//!
//! The writer thread builds the rows it writes a second time, as Arrow
//! batches of the capture schema, at least every [`LIVE_EVERY`], keeps
//! the columns the sink reads ([`LiveSink::columns`]) and queues them here
//! without ever waiting: a sink slower than the events (a heavy report, a
//! busy host) falls behind, the batches it could not take are counted and
//! it is told how many, and neither the capture nor the kernel's ring
//! buffer loses anything for it. The queue is bounded ([`LIVE_QUEUE_BYTES`]
//! of batches), so neither does the recorder's memory grow.

use anyhow::{Context as _, Result, anyhow};
use arrow_array::RecordBatch;
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

/// The longest an event waits in the writer before the live sink gets it
/// (the sink may add its own delay, e.g. to the end of an interval).
pub const LIVE_EVERY: Duration = Duration::from_millis(250);
/// How often the sink is ticked (the live reports' clock): with the
/// writer's [`LIVE_EVERY`] and the drain's 100 ms, a per-event report
/// prints a row ~0.6 s after its event at most.
const TICK: Duration = Duration::from_millis(250);
/// Bytes of batches waiting for the sink; past this they are dropped and
/// counted. (A batch holds at most the writer's sort window, 16 Ki events,
/// or [`LIVE_EVERY`] of them; a row of every column is ~180 bytes.)
pub const LIVE_QUEUE_BYTES: usize = 16 << 20;

/// What consumes the recording's events live: `sockrec record --report`'s
/// reports. Called on the live thread only, never on the writer's.
pub trait LiveSink: Send {
    /// The capture columns it reads: the rows it is given have these
    /// alone, in the capture's order.
    fn columns(&self) -> Vec<String>;
    /// Rows of the capture schema (its [`LiveSink::columns`]), in time
    /// order within the batch.
    fn events(&mut self, batch: RecordBatch) -> Result<()>;
    /// Four times a second; `behind` is how many events the sink has not
    /// been given so far because it was too slow (0 when it keeps up).
    fn tick(&mut self, behind: u64) -> Result<()>;
    /// The recording has ended: every event has been given (or counted in
    /// `behind`).
    fn finish(&mut self, behind: u64) -> Result<()>;
}

/// The writer's end of the live thread.
pub(crate) struct LiveFeed {
    queue: mpsc::Sender<RecordBatch>,
    /// Bytes of the batches queued, the sink's to take.
    queued: Arc<AtomicUsize>,
    /// Indices of the sink's columns in the capture schema.
    columns: Vec<usize>,
    /// Events dropped because the queue was full.
    behind: Arc<AtomicU64>,
    thread: thread::JoinHandle<Result<()>>,
}

impl LiveFeed {
    /// Starts the live thread over `sink`.
    pub(crate) fn start(mut sink: Box<dyn LiveSink>) -> Result<LiveFeed> {
        let schema = sockrec_capture::capture_schema();
        let columns = sink
            .columns()
            .iter()
            .map(|n| schema.index_of(n))
            .collect::<Result<Vec<_>, _>>()
            .context("a live report's column")?;
        // Bounded by bytes (`queued`), not by batches: their sizes vary.
        let (queue, rx) = mpsc::channel::<RecordBatch>();
        let queued = Arc::new(AtomicUsize::new(0));
        let taken = Arc::clone(&queued);
        let behind = Arc::new(AtomicU64::new(0));
        let seen = Arc::clone(&behind);
        let thread = thread::Builder::new()
            .name("sockrec-live".into())
            .spawn(move || {
                let mut next_tick = Instant::now() + TICK;
                loop {
                    match rx.recv_timeout(next_tick.saturating_duration_since(Instant::now())) {
                        Ok(batch) => {
                            taken.fetch_sub(batch.get_array_memory_size(), Ordering::Relaxed);
                            sink.events(batch)?;
                        }
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                    if Instant::now() >= next_tick {
                        sink.tick(seen.load(Ordering::Relaxed))?;
                        next_tick += TICK;
                    }
                }
                sink.finish(seen.load(Ordering::Relaxed))
            })
            .context("starting the live report thread")?;
        Ok(LiveFeed {
            queue,
            queued,
            columns,
            behind,
            thread,
        })
    }

    /// Queues `batch` for the sink, or counts its rows as not shown when
    /// the sink is behind; never waits. A sink that failed (its thread
    /// ended) takes nothing more: its error comes out of [`LiveFeed::finish`].
    pub(crate) fn send(&self, batch: RecordBatch) {
        let rows = batch.num_rows() as u64;
        let Ok(batch) = batch.project(&self.columns) else {
            self.behind.fetch_add(rows, Ordering::Relaxed);
            return;
        };
        let bytes = batch.get_array_memory_size();
        if self.queued.load(Ordering::Relaxed) + bytes > LIVE_QUEUE_BYTES {
            self.behind.fetch_add(rows, Ordering::Relaxed);
            return;
        }
        self.queued.fetch_add(bytes, Ordering::Relaxed);
        // A sink that failed has ended its thread: nothing more to give it.
        let _ = self.queue.send(batch);
    }

    /// Closes the queue, lets the sink finish and returns its error, if any.
    pub(crate) fn finish(self) -> Result<()> {
        drop(self.queue);
        self.thread
            .join()
            .map_err(|_| anyhow!("the live report thread panicked"))?
    }
}
