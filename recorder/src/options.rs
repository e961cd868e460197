//! What the user asked `sockrec record` for, checked and turned into the
//! values the kernel-side filter takes.

use anyhow::{Context as _, Result, bail};
use sockrec_common::{EVENT_MASK_ALL, EventKind};
use std::{
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    time::Duration,
};

#[derive(Clone, Debug)]
pub struct RecordOptions {
    /// Stop after this long; `None` records until Ctrl-C / SIGTERM.
    pub duration: Option<Duration>,
    /// The capture file to write; none for `sockrec watch` (live reports
    /// only).
    pub output: Option<PathBuf>,
    /// Overwrite `output` if it exists.
    pub force: bool,
    pub filters: Filters,
    /// Ring buffer size in bytes (a power of two, at least one page).
    pub buffer_bytes: u32,
    /// Print a status line on stderr every second.
    pub status: bool,
}

/// Filters applied in the kernel, before an event costs anything more.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    pub pid: Option<u32>,
    pub comm: Option<String>,
    pub cgroup: Option<CgroupFilter>,
    /// Kinds to record; empty means all.
    pub events: Vec<EventKind>,
}

#[derive(Clone, Debug)]
pub struct CgroupFilter {
    pub path: PathBuf,
    /// cgroup v2 id: the directory's inode number.
    pub id: u64,
    /// Depth below the cgroup v2 root (the root is 0).
    pub level: u32,
}

impl Filters {
    /// Bits of the kinds to record (`EventKind::bit`).
    pub fn event_mask(&self) -> u32 {
        if self.events.is_empty() {
            EVENT_MASK_ALL
        } else {
            self.events.iter().fold(0, |m, k| m | k.bit())
        }
    }

    /// `comm` as the kernel's NUL-padded `TASK_COMM_LEN` array.
    pub fn comm_bytes(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        if let Some(c) = &self.comm {
            let b = c.as_bytes();
            let n = b.len().min(15);
            out[..n].copy_from_slice(&b[..n]);
        }
        out
    }

    /// The filters as one line for the capture's metadata.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = self.pid {
            parts.push(format!("pid={p}"));
        }
        if let Some(c) = &self.comm {
            parts.push(format!("comm={c}"));
        }
        if let Some(c) = &self.cgroup {
            parts.push(format!("cgroup={}", c.path.display()));
        }
        if !self.events.is_empty() {
            let names: Vec<&str> = self.events.iter().map(|k| k.name()).collect();
            parts.push(format!("events={}", names.join(",")));
        }
        parts.join(" ")
    }
}

/// `CGROUP2_SUPER_MAGIC` from include/uapi/linux/magic.h.
const CGROUP2_SUPER_MAGIC: i64 = 0x63677270;

fn is_cgroup2(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is NUL-terminated, st is a valid out pointer.
    unsafe { libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == CGROUP2_SUPER_MAGIC }
}

/// Resolves `--cgroup PATH`: a cgroup v2 directory. The id is its inode
/// number (what `bpf_get_current_cgroup_id()` returns) and its level the
/// number of cgroup v2 ancestors above it.
pub fn resolve_cgroup(path: &Path) -> Result<CgroupFilter> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("--cgroup {}: no such cgroup directory", path.display()))?;
    if !meta.is_dir() || !is_cgroup2(path) {
        bail!(
            "--cgroup {}: not a cgroup v2 directory (look under the cgroup2 mount, e.g. /sys/fs/cgroup)",
            path.display()
        );
    }
    let abs = path.canonicalize()?;
    let level = abs
        .ancestors()
        .skip(1)
        .take_while(|p| is_cgroup2(p))
        .count() as u32;
    Ok(CgroupFilter {
        path: abs,
        id: meta.ino(),
        level,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockrec_capture::schema::parse_event_kinds;

    #[test]
    fn events_parse_and_mask() {
        let kinds = parse_event_kinds("connect, accept4,connect").unwrap();
        assert_eq!(kinds, vec![EventKind::Connect, EventKind::Accept4]);
        let f = Filters {
            events: kinds,
            ..Default::default()
        };
        assert_eq!(
            f.event_mask(),
            EventKind::Connect.bit() | EventKind::Accept4.bit()
        );
        assert_eq!(Filters::default().event_mask(), EVENT_MASK_ALL);
        let err = parse_event_kinds("connect,sendmsg")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"sendmsg\""), "{err}");
    }

    #[test]
    fn comm_is_truncated_like_the_kernel() {
        let f = Filters {
            comm: Some("a-very-long-process-name".into()),
            ..Default::default()
        };
        let b = f.comm_bytes();
        assert_eq!(&b[..15], b"a-very-long-pro");
        assert_eq!(b[15], 0);
    }

    #[test]
    fn cgroup_must_be_cgroup2() {
        let err = resolve_cgroup(Path::new("/tmp")).unwrap_err().to_string();
        assert!(err.contains("not a cgroup v2 directory"), "{err}");
        let err = resolve_cgroup(Path::new("/nonexistent/x"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no such cgroup"), "{err}");
    }
}
