//! Any bytes, opened as a capture the way `sockrec info` and `sockrec
//! query` open one: the footer ([`CaptureInfo::open`]) and the `kind`
//! counts, which must return an error or a value, never panic; then every
//! column of every row group decoded, as a report's scan does, inside
//! [`quietly`] as `sockrec query` runs it (parquet-rs can panic on a
//! malformed page: sockrec reports that as the capture's error). No step
//! may hang (libFuzzer's `-timeout`) or allocate beyond
//! `-rss_limit_mb`/`-malloc_limit_mb` (a footer that claims gigabytes).
//!
//! Seeded with the fixtures (real captures); `corpus/capture_reader/` keeps
//! the inputs worth keeping that runs found.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sockrec_capture::CaptureInfo;
use sockrec_capture::panic::quietly;

/// One file per fuzzing process, rewritten for every input (the reader
/// takes a path, as the commands do).
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("sockrec-fuzz-{}.parquet", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    std::fs::write(path, data).expect("writing the scratch file");
    let Ok(info) = CaptureInfo::open(path) else {
        return;
    };
    let _ = info.events_per_kind();
    let Ok(file) = std::fs::File::open(path) else {
        return;
    };
    let _ = quietly(|| {
        let Ok(builder) = ParquetRecordBatchReaderBuilder::try_new(file) else {
            return;
        };
        let Ok(reader) = builder.with_batch_size(8192).build() else {
            return;
        };
        for batch in reader {
            if batch.is_err() {
                return;
            }
        }
    });
});
