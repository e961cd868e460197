//! [`CaptureMeta`]: a capture's recording facts (format version, host,
//! kernel, times, probes, lost events, filters, completeness), as the
//! `sockrec.*` key-value metadata of its Parquet footer
//! (`docs/capture-format.md`).
//!
//! [`CaptureMeta::to_key_values`] and [`CaptureMeta::from_key_values`] are
//! inverse: what the writer puts in a footer, the reader gets back field
//! for field, so a reader's metadata can be handed to a writer as it is
//! (copying a capture's recording facts into a new file).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use parquet::file::metadata::KeyValue;

use crate::schema::{self, FORMAT_VERSION};

/// Capture-wide facts stored in the file's key-value metadata.
///
/// A [`crate::CaptureWriter`] writes its files in this crate's
/// [`FORMAT_VERSION`] and sets `complete` itself (`false` in the footers of
/// its flushes, `true` when finished), and `end_ns` in provisional footers;
/// everything else is the caller's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureMeta {
    /// Version of the capture format ([`schema::META_FORMAT_VERSION`]).
    pub format_version: u32,
    /// Version of the sockrec that wrote the file.
    pub sockrec_version: String,
    /// Host name; also the value of every row's `host` column.
    pub host: String,
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// Wall-clock Unix ns of boot: `time = boot_time_ns + time_ns`.
    pub boot_time_ns: i64,
    /// When recording started, Unix epoch ns.
    pub start_ns: i64,
    /// When recording ended (or, in a provisional footer, when it was
    /// written), Unix epoch ns. Given to a writer as 0, its
    /// [`crate::CaptureWriter::finish`] uses the time it runs.
    pub end_ns: i64,
    /// The attached probes, as text.
    pub probes: String,
    /// Events lost per CPU (ring buffer full).
    pub lost: Vec<u64>,
    /// The recording's filters, as text.
    pub filters: String,
    /// Whether the recording was finished cleanly (otherwise the file holds
    /// the events up to the last flush before the recorder died).
    pub complete: bool,
    /// What was done to the recording's events since (`sockrec slice`,
    /// `sockrec redact`): one line per step, oldest first; empty for a
    /// capture as recorded. Stored as `sockrec.derived` only when not empty.
    pub derived: Vec<String>,
}

impl Default for CaptureMeta {
    /// No facts yet, in the format this crate writes.
    fn default() -> CaptureMeta {
        CaptureMeta {
            format_version: FORMAT_VERSION,
            sockrec_version: String::new(),
            host: String::new(),
            kernel: String::new(),
            boot_time_ns: 0,
            start_ns: 0,
            end_ns: 0,
            probes: String::new(),
            lost: Vec::new(),
            filters: String::new(),
            complete: false,
            derived: Vec::new(),
        }
    }
}

impl CaptureMeta {
    /// The `sockrec.*` key-value pairs of a footer: every field, as text
    /// (`lost` comma-separated, `complete` as `true`/`false`).
    pub fn to_key_values(&self) -> Vec<KeyValue> {
        [
            (schema::META_FORMAT_VERSION, self.format_version.to_string()),
            (schema::META_VERSION, self.sockrec_version.clone()),
            (schema::META_HOST, self.host.clone()),
            (schema::META_KERNEL, self.kernel.clone()),
            (schema::META_BOOT_TIME_NS, self.boot_time_ns.to_string()),
            (schema::META_START_NS, self.start_ns.to_string()),
            (schema::META_END_NS, self.end_ns.to_string()),
            (schema::META_PROBES, self.probes.clone()),
            (schema::META_LOST, self.lost_per_cpu()),
            (schema::META_FILTERS, self.filters.clone()),
            (schema::META_COMPLETE, self.complete.to_string()),
        ]
        .into_iter()
        .chain((!self.derived.is_empty()).then(|| (schema::META_DERIVED, self.derived.join("\n"))))
        .map(|(k, v)| KeyValue::new(k.to_string(), v))
        .collect()
    }

    /// The facts of a footer's key-value metadata (other keys, such as
    /// `ARROW:schema`, are ignored; of a repeated key, the last counts).
    ///
    /// Only [`schema::META_FORMAT_VERSION`] is required: its presence is
    /// what makes a Parquet file a sockrec capture, and a version newer
    /// than [`FORMAT_VERSION`] is refused. Other missing keys read as
    /// empty text, 0, no lost counts and not complete; numbers may have
    /// spaces around them. Errors are one line, without the file's name.
    pub fn from_key_values(kvs: &[KeyValue]) -> Result<CaptureMeta> {
        let kv: BTreeMap<&str, &str> = kvs
            .iter()
            .filter_map(|kv| Some((kv.key.as_str(), kv.value.as_deref()?)))
            .collect();
        let get = |key: &str| kv.get(key).copied();
        let parse_i64 = |key: &str| -> Result<i64> {
            match get(key) {
                None => Ok(0),
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| anyhow!("bad {key} value {v:?}")),
            }
        };

        let version = get(schema::META_FORMAT_VERSION).ok_or_else(|| {
            anyhow!(
                "not a sockrec capture (no {} metadata)",
                schema::META_FORMAT_VERSION
            )
        })?;
        let format_version: u32 = version
            .trim()
            .parse()
            .map_err(|_| anyhow!("bad {} value {version:?}", schema::META_FORMAT_VERSION))?;
        if format_version > FORMAT_VERSION {
            bail!(
                "capture format version {format_version} is newer than this sockrec understands ({FORMAT_VERSION})"
            );
        }
        let lost = match get(schema::META_LOST).map(str::trim) {
            None | Some("") => Vec::new(),
            Some(v) => v
                .split(',')
                .map(|n| n.trim().parse::<u64>())
                .collect::<Result<_, _>>()
                .map_err(|_| anyhow!("bad {} value {v:?}", schema::META_LOST))?,
        };
        let text = |key: &str| get(key).unwrap_or_default().to_string();

        Ok(CaptureMeta {
            format_version,
            sockrec_version: text(schema::META_VERSION),
            host: text(schema::META_HOST),
            kernel: text(schema::META_KERNEL),
            boot_time_ns: parse_i64(schema::META_BOOT_TIME_NS)?,
            start_ns: parse_i64(schema::META_START_NS)?,
            end_ns: parse_i64(schema::META_END_NS)?,
            probes: text(schema::META_PROBES),
            lost,
            filters: text(schema::META_FILTERS),
            complete: get(schema::META_COMPLETE) == Some("true"),
            derived: get(schema::META_DERIVED)
                .map(|v| v.lines().map(str::to_string).collect())
                .unwrap_or_default(),
        })
    }

    /// The events lost per CPU, comma-separated (`0,3`): the value of
    /// `sockrec.lost`, and how `sockrec info` shows them.
    pub fn lost_per_cpu(&self) -> String {
        self.lost
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Total events lost.
    pub fn lost_total(&self) -> u64 {
        self.lost.iter().sum()
    }

    /// Recording duration (zero if the times are missing or inverted).
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(u64::try_from(self.end_ns.saturating_sub(self.start_ns)).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> CaptureMeta {
        CaptureMeta {
            sockrec_version: "0.1.0".into(),
            host: "web-1".into(),
            kernel: "6.1.0-13-amd64".into(),
            boot_time_ns: 1_700_000_000_000_000_000,
            start_ns: 1_700_000_005_000_000_000,
            end_ns: 1_700_000_009_000_000_000,
            probes: "tracepoint:syscalls:sys_exit_connect".into(),
            lost: vec![1, 2, 3],
            filters: "pid=42".into(),
            ..CaptureMeta::default()
        }
    }

    fn value(kv: &[KeyValue], key: &str) -> Option<String> {
        kv.iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.clone())
    }

    fn round_trip(m: &CaptureMeta) -> CaptureMeta {
        CaptureMeta::from_key_values(&m.to_key_values()).unwrap()
    }

    #[test]
    fn key_values_cover_every_key() {
        let mut m = meta();
        m.end_ns = 5;
        m.complete = true;
        let kv = m.to_key_values();
        assert_eq!(value(&kv, schema::META_LOST).as_deref(), Some("1,2,3"));
        assert_eq!(value(&kv, schema::META_END_NS).as_deref(), Some("5"));
        assert_eq!(value(&kv, schema::META_COMPLETE).as_deref(), Some("true"));
        assert_eq!(
            value(&kv, schema::META_FORMAT_VERSION).as_deref(),
            Some(schema::FORMAT_VERSION.to_string().as_str())
        );
        assert_eq!(kv.len(), 11);
        assert!(kv.iter().all(|kv| kv.key.starts_with("sockrec.")));
    }

    /// What is written is read back field for field, whatever the text.
    #[test]
    fn reading_is_the_inverse_of_writing() {
        let m = meta();
        assert_eq!(round_trip(&m), m);
        assert_eq!(round_trip(&CaptureMeta::default()), CaptureMeta::default());

        for complete in [false, true] {
            let m = CaptureMeta { complete, ..meta() };
            assert_eq!(round_trip(&m), m);
        }
        for lost in [vec![], vec![0], vec![u64::MAX, 0, 7]] {
            let m = CaptureMeta { lost, ..meta() };
            assert_eq!(round_trip(&m), m);
        }
        for derived in [
            vec![],
            vec!["slice of a.parquet: --pid 7".to_string(), "redact".into()],
        ] {
            let m = CaptureMeta { derived, ..meta() };
            assert_eq!(round_trip(&m), m);
        }
        // Text is stored as it is: separators, newlines, spaces at the
        // ends, control characters, non-UTF-8-looking escapes.
        for text in [
            "",
            "a,b,,c",
            "first\nsecond\n",
            "  padded  ",
            "\x1b[2J\x1b]0;owned\x07\0\r\t",
            "sockrec.complete=true",
            "ünïcødé, ✓",
        ] {
            let m = CaptureMeta {
                probes: text.into(),
                filters: text.into(),
                host: text.into(),
                kernel: text.into(),
                sockrec_version: text.into(),
                ..meta()
            };
            assert_eq!(round_trip(&m), m, "{text:?}");
        }
        for t in [i64::MIN, -1, 0, i64::MAX] {
            let m = CaptureMeta {
                boot_time_ns: t,
                start_ns: t,
                end_ns: t,
                ..meta()
            };
            assert_eq!(round_trip(&m), m);
        }
    }

    /// Older or hand-made footers: missing keys read as empty, numbers may
    /// be padded, other keys are ignored.
    #[test]
    fn reading_tolerates_missing_keys_and_spaces() {
        let kv = |pairs: &[(&str, &str)]| -> Vec<KeyValue> {
            pairs
                .iter()
                .map(|(k, v)| KeyValue::new(k.to_string(), v.to_string()))
                .collect()
        };
        let m = CaptureMeta::from_key_values(&kv(&[
            ("ARROW:schema", "x"),
            (schema::META_FORMAT_VERSION, " 1 "),
            (schema::META_LOST, " 4 , 5 "),
            (schema::META_START_NS, " 7"),
            (schema::META_COMPLETE, "yes"),
        ]))
        .unwrap();
        assert_eq!(
            m,
            CaptureMeta {
                format_version: 1,
                lost: vec![4, 5],
                start_ns: 7,
                ..CaptureMeta::default()
            }
        );
        let m = CaptureMeta::from_key_values(&kv(&[
            (schema::META_FORMAT_VERSION, "0"),
            (schema::META_LOST, "  "),
        ]))
        .unwrap();
        assert_eq!(m.format_version, 0);
        assert!(m.lost.is_empty());
    }

    #[test]
    fn reading_errors_say_which_key() {
        let err = |pairs: &[(&str, &str)]| {
            let kvs: Vec<KeyValue> = pairs
                .iter()
                .map(|(k, v)| KeyValue::new(k.to_string(), v.to_string()))
                .collect();
            format!("{:#}", CaptureMeta::from_key_values(&kvs).unwrap_err())
        };
        assert_eq!(
            err(&[]),
            "not a sockrec capture (no sockrec.format_version metadata)"
        );
        assert_eq!(
            err(&[(schema::META_FORMAT_VERSION, "one")]),
            "bad sockrec.format_version value \"one\""
        );
        assert_eq!(
            err(&[(schema::META_FORMAT_VERSION, "99")]),
            format!(
                "capture format version 99 is newer than this sockrec understands ({})",
                schema::FORMAT_VERSION
            )
        );
        assert_eq!(
            err(&[
                (schema::META_FORMAT_VERSION, "1"),
                (schema::META_LOST, "1,x")
            ]),
            "bad sockrec.lost value \"1,x\""
        );
        assert_eq!(
            err(&[
                (schema::META_FORMAT_VERSION, "1"),
                (schema::META_BOOT_TIME_NS, "soon")
            ]),
            "bad sockrec.boot_time_ns value \"soon\""
        );
    }

    #[test]
    fn lost_counts_and_duration() {
        let m = meta();
        assert_eq!(m.lost_total(), 6);
        assert_eq!(m.lost_per_cpu(), "1,2,3");
        assert_eq!(CaptureMeta::default().lost_per_cpu(), "");
        assert_eq!(m.duration(), Duration::from_secs(4));
        let inverted = CaptureMeta {
            end_ns: 0,
            ..meta()
        };
        assert_eq!(inverted.duration(), Duration::ZERO);
    }
}
