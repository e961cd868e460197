//! The row group being built: its rows grouped by kind.
//!
//! Each row group holds its events kind by kind, in the order of the kind
//! names (`accept`, `accept4`, `bind`, `close`, `connect`, `listen`, `recv`, `send`, `socket`,
//! `socketpair`, then any unknown kind), each kind's rows in the order
//! they came (the recorder puts them in time order). So the pages of the
//! `kind` column each hold one kind or a few neighbours, and their
//! statistics in the page index let a reader skip what a query does not
//! ask for: the calls the reports count are ~10 % of a busy capture's rows,
//! interleaved with messages, so without this every page of every column
//! read had to be decoded (docs/benchmarks.md, "query").

use anyhow::Result;
use arrow_array::RecordBatch;
use sockrec_common::{EventKind, SocketEvent};

use crate::batch::EventBatch;

/// The kinds in the order their rows are written: sorted by name.
const ORDER: [EventKind; 12] = [
    EventKind::Accept,
    EventKind::Accept4,
    EventKind::Bind,
    EventKind::Close,
    EventKind::Connect,
    EventKind::Listen,
    EventKind::Recv,
    EventKind::Send,
    EventKind::Socket,
    EventKind::Socketpair,
    EventKind::TcpRetransmit,
    EventKind::TcpState,
];

/// One batch per kind in [`ORDER`], and one for kinds this build does not
/// know (named `unknown`, which sorts last).
const GROUPS: usize = ORDER.len() + 1;

/// Rows of one row group, by kind.
pub struct RowGroupBuilder {
    boot_time_ns: i64,
    /// Made on a kind's first row: most recordings have few kinds.
    groups: [Option<EventBatch>; GROUPS],
    rows: usize,
}

impl RowGroupBuilder {
    pub fn new(boot_time_ns: i64) -> Self {
        RowGroupBuilder {
            boot_time_ns,
            groups: Default::default(),
            rows: 0,
        }
    }

    /// Adds one event, to its kind's rows.
    pub fn push(&mut self, ev: &SocketEvent, probe: &'static str) {
        let group = group_of(ev.kind);
        let boot = self.boot_time_ns;
        self.groups[group]
            .get_or_insert_with(|| EventBatch::new(boot))
            .push(ev, probe);
        self.rows += 1;
    }

    /// Rows since the last [`RowGroupBuilder::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The rows as record batches, to be written in this order into one
    /// row group; the builder is empty again.
    pub fn finish(&mut self, host: &str) -> Result<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        for batch in self.groups.iter_mut().flatten() {
            if !batch.is_empty() {
                batches.push(batch.finish(host)?);
            }
        }
        self.rows = 0;
        Ok(batches)
    }
}

/// The place of a kind (its wire value) in [`ORDER`].
fn group_of(kind: u8) -> usize {
    EventKind::from_u8(kind)
        .and_then(|k| ORDER.iter().position(|&o| o == k))
        .unwrap_or(ORDER.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{UNKNOWN_KIND, tests::event};
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int32Type;

    /// Every kind has its place, in the order of the names the `kind`
    /// column stores (which is what the page statistics compare), and
    /// unknown kinds sort after them all.
    #[test]
    fn order_is_every_kind_by_name() {
        let mut names: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
        names.sort();
        let order: Vec<&str> = ORDER.iter().map(|k| k.name()).collect();
        assert_eq!(order, names);
        assert!(UNKNOWN_KIND > order[order.len() - 1]);
        assert_eq!(group_of(0), ORDER.len());
        assert_eq!(group_of(200), ORDER.len());
    }

    /// Rows come out kind by kind, each kind's in the order pushed.
    #[test]
    fn rows_come_out_by_kind() {
        let mut b = RowGroupBuilder::new(0);
        let pushed = [
            (EventKind::Send, 1),
            (EventKind::Connect, 2),
            (EventKind::Send, 3),
            (EventKind::Accept4, 4),
            (EventKind::Connect, 5),
        ];
        for (kind, t) in pushed {
            let mut ev = event(kind);
            ev.time_ns = t;
            b.push(&ev, "p");
        }
        assert_eq!(b.len(), 5);
        let batches = b.finish("h").unwrap();
        assert!(b.is_empty());
        let mut rows = Vec::new();
        for batch in &batches {
            let kind = batch
                .column_by_name("kind")
                .unwrap()
                .as_dictionary::<Int32Type>();
            let names = kind.values().as_string::<i32>();
            let time_ns = batch
                .column_by_name("time_ns")
                .unwrap()
                .as_primitive::<arrow_array::types::UInt64Type>();
            for i in 0..batch.num_rows() {
                let key = kind.keys().value(i) as usize;
                rows.push((names.value(key).to_string(), time_ns.value(i)));
            }
        }
        let want = [
            ("accept4", 4),
            ("connect", 2),
            ("connect", 5),
            ("send", 1),
            ("send", 3),
        ];
        let want: Vec<(String, u64)> = want.iter().map(|(k, t)| (k.to_string(), *t)).collect();
        assert_eq!(rows, want);
    }
}
