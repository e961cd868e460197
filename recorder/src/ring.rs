//! The kernel's records, read back as events: the one place that tells a
//! record's layout by its length (a `SocketEvent`, or a CPU's
//! `MessageBatch` of `MessageEvent`s, sockrec-common) and widens messages
//! into the general layout the writer takes.

use aya::maps::{MapData, RingBuf};
use sockrec_common::{MESSAGE_BATCH, MessageBatch, MessageEvent, SocketEvent};

/// The most events one drain takes before the loop looks at signals, the
/// deadline and the writer again (a fast producer could otherwise keep it
/// draining forever). Also the size of a chunk handed to the writer: 4 Ki
/// events of 200 bytes, so a full writer queue holds ~7 MB (16 Ki made the
/// busy recording's peak RSS 99 MiB, 4 Ki 89: `cargo xtask bench memory`).
pub const DRAIN_CHUNK: usize = 1 << 12;

/// Room for a drained chunk: a drain stops at [`DRAIN_CHUNK`] events or
/// less than one `MessageBatch` past it.
pub const CHUNK_CAPACITY: usize = DRAIN_CHUNK + MESSAGE_BATCH;

const SOCKET_EVENT: usize = size_of::<SocketEvent>();
const MESSAGE_EVENT: usize = size_of::<MessageEvent>();

/// Moves up to `max` events waiting in the ring buffer into `chunk`;
/// returns how many, and whether it stopped at `max` (more may wait).
pub fn drain(ring: &mut RingBuf<MapData>, chunk: &mut Vec<SocketEvent>, max: usize) -> (u64, bool) {
    let mut n = 0;
    while n < max as u64 {
        let Some(record) = ring.next() else {
            return (n, false);
        };
        n += decode(&record, chunk);
    }
    (n, true)
}

/// Appends the events of one ring-buffer record to `out` and returns how
/// many: a record of a `SocketEvent`'s length is one event, any other a
/// CPU's batch of messages (`MessageBatch`'s `events[..len]`, 64 bytes
/// each; the lengths cannot be confused, sockrec-common asserts it).
pub fn decode(record: &[u8], out: &mut Vec<SocketEvent>) -> u64 {
    // SAFETY (both reads): the slice read is exactly the layout's size, the
    // layouts are repr(C) plain data for which any bit pattern is valid
    // (sockrec-common's `aya::Pod` impls), and a record promises no
    // alignment, so the reads are unaligned.
    if record.len() == SOCKET_EVENT {
        out.push(unsafe { std::ptr::read_unaligned(record.as_ptr().cast::<SocketEvent>()) });
        return 1;
    }
    let mut n = 0;
    for msg in record.chunks_exact(MESSAGE_EVENT) {
        let ev = unsafe { std::ptr::read_unaligned(msg.as_ptr().cast::<MessageEvent>()) };
        out.push(ev.to_socket_event());
        n += 1;
    }
    n
}

/// Appends the messages a CPU still held in `batch` (read from its map
/// once the programs are detached) to `out`; returns how many.
pub fn decode_held(batch: &MessageBatch, out: &mut Vec<SocketEvent>) -> u64 {
    let len = (batch.len as usize).min(MESSAGE_BATCH);
    out.extend(
        batch.events[..len]
            .iter()
            .map(MessageEvent::to_socket_event),
    );
    len as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockrec_common::EventKind;

    /// A message of `kind` at `time_ns` from `pid`, the rest zero.
    fn message(time_ns: u64, pid: u32, kind: EventKind) -> MessageEvent {
        // SAFETY: plain data, all zeros is valid (aya::Pod).
        let mut ev: MessageEvent = unsafe { std::mem::zeroed() };
        ev.time_ns = time_ns;
        ev.pid = pid;
        ev.kind = kind as u8;
        ev.ret = -11;
        ev.comm[..4].copy_from_slice(b"nc\0\0");
        ev
    }

    /// The bytes the kernel writes for `values`, back to back.
    fn record_of<T: Copy>(values: &[T]) -> Vec<u8> {
        // SAFETY: the layouts have no padding (every field is laid out
        // back to back up to the asserted sizes), so every byte is set.
        unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), size_of_val(values)) }
            .to_vec()
    }

    #[test]
    fn a_socket_event_sized_record_is_one_event() {
        let mut ev = SocketEvent::new(EventKind::Connect, 42);
        ev.latency_ns = 7;
        ev.fd = 3;
        ev.addr_len = 16;
        ev.addr[0] = 2;
        let mut bytes = vec![0xff];
        // At an odd address: a record promises no alignment.
        bytes.extend(record_of(&[ev]));
        let mut out = vec![];
        assert_eq!(decode(&bytes[1..], &mut out), 1);
        let got = &out[0];
        assert_eq!(
            (
                got.time_ns,
                got.latency_ns,
                got.fd,
                got.fd2,
                got.kind,
                got.addr_len,
                got.addr[0]
            ),
            (42, 7, 3, -1, EventKind::Connect as u8, 16, 2)
        );
    }

    #[test]
    fn a_record_of_messages_is_one_event_each_widened() {
        let msgs: Vec<MessageEvent> = (0..5)
            .map(|i| message(100 - i, 1000 + i as u32, EventKind::Recv))
            .collect();
        let mut out = vec![];
        assert_eq!(decode(&record_of(&msgs), &mut out), 5);
        for (i, ev) in out.iter().enumerate() {
            assert_eq!(ev.time_ns, 100 - i as u64);
            assert_eq!(ev.pid, 1000 + i as u32);
            assert_eq!(ev.kind, EventKind::Recv as u8);
            assert_eq!(ev.ret, -11, "ret widened with its sign");
            assert_eq!((ev.fd, ev.fd2, ev.latency_ns, ev.addr_len), (-1, -1, 0, 0));
            assert_eq!(&ev.comm[..2], b"nc");
        }
        // A full batch's record, as the kernel outputs it when full.
        let full = vec![message(1, 1, EventKind::Send); MESSAGE_BATCH];
        assert_eq!(decode(&record_of(&full), &mut out), MESSAGE_BATCH as u64);
        assert_eq!(out.len(), 5 + MESSAGE_BATCH, "appended, not replaced");
    }

    #[test]
    fn held_messages_are_the_batch_up_to_its_length() {
        // SAFETY: plain data, all zeros is valid (aya::Pod).
        let mut batch: MessageBatch = unsafe { std::mem::zeroed() };
        batch.events[0] = message(5, 1, EventKind::Send);
        batch.events[1] = message(6, 2, EventKind::Recv);
        batch.len = 2;
        let mut out = vec![];
        assert_eq!(decode_held(&batch, &mut out), 2);
        assert_eq!((out[0].time_ns, out[1].time_ns), (5, 6));
        assert_eq!(out[1].kind, EventKind::Recv as u8);
        // A length past the array (the programs never write one) is clamped.
        batch.len = u32::MAX;
        out.clear();
        assert_eq!(decode_held(&batch, &mut out), MESSAGE_BATCH as u64);
        batch.len = 0;
        assert_eq!(decode_held(&batch, &mut out), 0);
    }
}
