//! `sockrec redact`: a capture with who-talked-to-whom hidden, for sharing
//! outside the team that owns the machines.
//!
//! Replaced, consistently (the same value always gives the same
//! replacement under one key, so joins, GROUP BYs and every report's counts
//! are unchanged): IP addresses (`addr`, `laddr`, `raddr`), UNIX socket
//! paths and abstract names (`addr`), task names (`comm`), the host (`host`
//! and `sockrec.host`), and the same names where the metadata repeats them
//! (`sockrec.filters`' `comm=` and `cgroup=`). Kept: ports, numbers, times,
//! event kinds, probes, the kernel release, lost counts.
//!
//! Every replacement is keyed: HMAC-SHA256 under a key the user keeps
//! (`--key FILE`, so captures redacted apart still join) or a random one
//! used once. Without the key, a replacement can't be matched against a
//! dictionary of likely addresses or names. IP addresses stay addresses of
//! their family: loopback and unspecified addresses are kept (they say
//! nothing about anyone), a prefix may be kept (`--keep-prefix 24`: the
//! subnet stays visible), and the rest of the address goes through a keyed
//! permutation (a four-round Feistel network with HMAC rounds, walked until
//! it leaves the kept addresses), so two addresses never become one and the
//! counts per address stay exact. An IPv4-mapped IPv6 address
//! (`::ffff:203.0.113.7`) hides its IPv4 address as that address alone
//! would be hidden.
//!
//! `sockrec.derived` gets a line saying what was replaced, with the key's
//! fingerprint (two captures redacted under one key show the same one);
//! earlier lines (a slice's) keep only their step's name, as they quote
//! file names and the values cut by.

use std::collections::HashMap;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result, anyhow, bail};
use arrow_array::cast::AsArray as _;
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, DictionaryArray, RecordBatch, RecordBatchReader as _, StringArray,
};
use arrow_schema::DataType;
use hmac::{Hmac, Mac as _};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sha2::{Digest as _, Sha256};
use sockrec_capture::schema::col;
use sockrec_capture::{CaptureInfo, DerivedCapture};

use crate::session::check_schema;

/// The shortest key `--key` takes, in bytes.
pub const MIN_KEY_BYTES: usize = 16;
/// Rows per batch read and written.
const BATCH_ROWS: usize = 64 * 1024;

/// What to redact with.
#[derive(Clone, Debug)]
pub struct Redaction {
    /// The key of every replacement (at least [`MIN_KEY_BYTES`]).
    pub key: Vec<u8>,
    /// Leading bits of IPv4 addresses kept as they are (0..=32).
    pub keep_prefix4: u8,
    /// Leading bits of IPv6 addresses kept as they are (0..=128).
    pub keep_prefix6: u8,
}

/// What a redaction wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redacted {
    pub rows: u64,
    /// Distinct values replaced: IP addresses (not those kept), UNIX paths,
    /// names.
    pub addresses: usize,
    pub paths: usize,
    pub names: usize,
    /// The key's fingerprint, as `sockrec.derived` records it.
    pub key_id: String,
}

/// Writes the capture at `input`, redacted, to a new capture at `out`
/// (replacing a file there only with `force`).
pub fn redact(input: &Path, out: &Path, force: bool, how: &Redaction) -> Result<Redacted> {
    if how.key.len() < MIN_KEY_BYTES {
        bail!(
            "the key has {} bytes, at least {MIN_KEY_BYTES} are needed",
            how.key.len()
        );
    }
    if how.keep_prefix4 > 32 || how.keep_prefix6 > 128 {
        bail!("a prefix to keep is at most 32 bits (IPv4) or 128 (IPv6)");
    }
    let info = CaptureInfo::open(input)?;
    check_schema(&info)?;
    let mut names = Names::new(how);
    let shown = input.display();
    let file = File::open(input).map_err(|e| anyhow!("{shown}: {e}"))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(BATCH_ROWS).build())
        .map_err(|e| anyhow!("{shown}: {e}"))?;
    let mut capture = DerivedCapture::create(out, force, reader.schema(), &[input])?;
    for batch in reader {
        let batch = batch.map_err(|e| anyhow!("{shown}: {e}"))?;
        capture.write(&names.batch(&batch)?)?;
    }
    let mut meta = info.meta.clone();
    meta.host = names.name("host", &meta.host);
    meta.filters = names.filters(&meta.filters);
    // Earlier steps' lines quote files and values: keep their names only.
    for line in &mut meta.derived {
        let step = line.split_whitespace().next().unwrap_or("step").to_string();
        *line = format!("{step} (its details redacted)");
    }
    let key_id = key_id(&how.key);
    let prefixes = match (how.keep_prefix4, how.keep_prefix6) {
        (0, 0) => String::new(),
        (p4, p6) => format!("; the first {p4} bits of IPv4 and {p6} of IPv6 addresses kept"),
    };
    meta.derived.push(format!(
        "redact: IP addresses (loopback and unspecified kept{prefixes}), UNIX paths, comm and host replaced under key {key_id}"
    ));
    let rows = capture.rows();
    capture.finish(&meta)?;
    Ok(Redacted {
        rows,
        addresses: names.addresses,
        paths: names.paths,
        names: names.names,
        key_id,
    })
}

/// The key's fingerprint: enough to tell keys apart, nothing of the key.
pub fn key_id(key: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(b"sockrec redact key id\0")
        .chain_update(key)
        .finalize();
    hex(&digest[..8])
}

/// Reads a key file: its bytes, at least [`MIN_KEY_BYTES`] of them.
pub fn read_key(path: &Path) -> Result<Vec<u8>> {
    let key = std::fs::read(path).map_err(|e| anyhow!("--key {}: {e}", path.display()))?;
    if key.len() < MIN_KEY_BYTES {
        bail!(
            "--key {}: {} bytes, at least {MIN_KEY_BYTES} are needed (make one with: head -c 32 /dev/urandom > {})",
            path.display(),
            key.len(),
            path.display()
        );
    }
    Ok(key)
}

/// A key used once: 32 random bytes.
pub fn random_key() -> Result<Vec<u8>> {
    let mut key = vec![0u8; 32];
    use std::io::Read as _;
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .context("reading /dev/urandom for a key")?;
    Ok(key)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The replacements of one redaction, remembered (a capture repeats its
/// few addresses and names millions of times).
struct Names<'a> {
    how: &'a Redaction,
    done: HashMap<(&'static str, String), String>,
    addresses: usize,
    paths: usize,
    names: usize,
}

impl<'a> Names<'a> {
    fn new(how: &'a Redaction) -> Names<'a> {
        Names {
            how,
            done: HashMap::new(),
            addresses: 0,
            paths: 0,
            names: 0,
        }
    }

    /// HMAC-SHA256 of `data` in `domain` (so a comm and a host of the same
    /// text are replaced apart).
    fn prf(&self, domain: &str, data: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.how.key).expect("any key length");
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// `batch` with its names and addresses replaced.
    fn batch(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
        let schema = batch.schema();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        for (i, field) in schema.fields().iter().enumerate() {
            let kind: fn(&mut Names, &str) -> String = match field.name().as_str() {
                col::HOST => |n, v| n.name("host", v),
                col::COMM => |n, v| n.name("comm", v),
                col::ADDR | col::LADDR | col::RADDR => |n, v| n.address(v),
                _ => continue,
            };
            columns[i] = self.column(&columns[i], kind)?;
        }
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    /// A string column (plain or a dictionary of strings) with `replace`
    /// applied to each value.
    fn column(
        &mut self,
        array: &ArrayRef,
        replace: fn(&mut Names, &str) -> String,
    ) -> Result<ArrayRef> {
        let mut strings = |values: &StringArray| -> StringArray {
            values.iter().map(|v| v.map(|v| replace(self, v))).collect()
        };
        Ok(match array.data_type() {
            DataType::Utf8 => Arc::new(strings(array.as_string::<i32>())),
            DataType::Dictionary(key, value)
                if **key == DataType::Int32 && **value == DataType::Utf8 =>
            {
                // The distinct values only; the rows keep their keys.
                let dict: &DictionaryArray<Int32Type> = array.as_dictionary();
                let values = strings(dict.values().as_string::<i32>());
                Arc::new(DictionaryArray::try_new(
                    dict.keys().clone(),
                    Arc::new(values),
                )?)
            }
            other => bail!("a names column of type {other}: not a sockrec capture"),
        })
    }

    /// A task or host name: `comm-` or `host-` and 8 hex digits (13
    /// characters: a comm still fits TASK_COMM_LEN).
    fn name(&mut self, domain: &'static str, value: &str) -> String {
        if value.is_empty() {
            return String::new();
        }
        if let Some(done) = self.done.get(&(domain, value.to_string())) {
            return done.clone();
        }
        let new = format!("{domain}-{}", hex(&self.prf(domain, value.as_bytes())[..4]));
        self.names += 1;
        self.done.insert((domain, value.to_string()), new.clone());
        new
    }

    /// An `addr`/`laddr`/`raddr` text: an IP address (of its family), a
    /// UNIX path (`/redacted/` and 16 hex digits), an abstract name (`@`
    /// kept), or empty (an unnamed socket).
    fn address(&mut self, value: &str) -> String {
        if value.is_empty() {
            return String::new();
        }
        if let Some(done) = self.done.get(&("addr", value.to_string())) {
            return done.clone();
        }
        let new = match value.parse::<IpAddr>() {
            Ok(ip) => {
                let new = self.ip(ip);
                self.addresses += usize::from(new != ip);
                new.to_string()
            }
            Err(_) => {
                self.paths += 1;
                let tag = hex(&self.prf("path", value.as_bytes())[..8]);
                match value.strip_prefix('@') {
                    Some(_) => format!("@redacted-{tag}"),
                    None => format!("/redacted/{tag}"),
                }
            }
        };
        self.done.insert(("addr", value.to_string()), new.clone());
        new
    }

    fn ip(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(a) => IpAddr::V4(self.ipv4(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => IpAddr::V6(self.ipv4(v4).to_ipv6_mapped()),
                None => IpAddr::V6(self.ipv6(a)),
            },
        }
    }

    fn ipv4(&self, a: Ipv4Addr) -> Ipv4Addr {
        let kept = |a: Ipv4Addr| a.is_loopback() || a.is_unspecified() || a.is_broadcast();
        if kept(a) {
            return a;
        }
        let bits = u32::from(a) as u128;
        let p = u32::from(self.how.keep_prefix4);
        let mut out = bits;
        loop {
            out = self.permute("ip4", 32, p, out);
            // Cycle-walking: a kept address is never an image, so two
            // addresses never meet and no address turns into loopback.
            if !kept(Ipv4Addr::from(out as u32)) {
                return Ipv4Addr::from(out as u32);
            }
        }
    }

    fn ipv6(&self, a: Ipv6Addr) -> Ipv6Addr {
        let kept =
            |a: Ipv6Addr| a.is_loopback() || a.is_unspecified() || a.to_ipv4_mapped().is_some();
        if kept(a) {
            return a;
        }
        let p = u32::from(self.how.keep_prefix6);
        let mut out = u128::from(a);
        loop {
            out = self.permute("ip6", 128, p, out);
            if !kept(Ipv6Addr::from(out)) {
                return Ipv6Addr::from(out);
            }
        }
    }

    /// A keyed permutation of the last `width - prefix` bits of `x` (a
    /// `width`-bit address), keeping its first `prefix` bits: four rounds
    /// of an (unbalanced, where the bits are odd) Feistel network whose
    /// round function is HMAC over the prefix, the round and the half.
    fn permute(&self, domain: &str, width: u32, prefix: u32, x: u128) -> u128 {
        let n = width - prefix;
        if n == 0 {
            return x;
        }
        let mask = |bits: u32| {
            if bits >= 128 {
                u128::MAX
            } else {
                (1u128 << bits) - 1
            }
        };
        let high = x & !mask(n) & mask(width);
        let (mut left_bits, mut right_bits) = (n / 2, n - n / 2);
        let mut left = (x & mask(n)) >> right_bits;
        let mut right = x & mask(right_bits);
        for round in 0u8..4 {
            let mut data = Vec::with_capacity(34);
            data.extend_from_slice(&high.to_be_bytes());
            data.push(round);
            data.extend_from_slice(&right.to_be_bytes());
            let f = self.prf(domain, &data);
            let f = u128::from_be_bytes(f[..16].try_into().expect("16 bytes"));
            let new_right = (left ^ f) & mask(left_bits);
            left = right;
            right = new_right;
            std::mem::swap(&mut left_bits, &mut right_bits);
        }
        high | (left << right_bits) | right
    }

    /// The recording's filters (`pid=1 comm=NAME cgroup=PATH events=...`)
    /// with the name and the path replaced as in the rows.
    fn filters(&mut self, filters: &str) -> String {
        // Values may hold spaces: each runs to the next known key.
        let keys = ["pid=", "comm=", "cgroup=", "events="];
        let mut starts: Vec<(usize, &str)> = keys
            .iter()
            .filter_map(|k| {
                let at = if filters.starts_with(k) {
                    Some(0)
                } else {
                    filters.find(&format!(" {k}")).map(|i| i + 1)
                };
                at.map(|i| (i, *k))
            })
            .collect();
        starts.sort_unstable();
        if filters.trim().is_empty() {
            return String::new();
        }
        if starts.first().map(|s| s.0) != Some(0) {
            return "(redacted)".to_string();
        }
        let mut parts = Vec::new();
        for (i, (at, key)) in starts.iter().enumerate() {
            let end = starts.get(i + 1).map_or(filters.len(), |s| s.0 - 1);
            let value = &filters[at + key.len()..end];
            parts.push(match *key {
                "comm=" => format!("comm={}", self.name("comm", value)),
                "cgroup=" => format!("cgroup={}", self.address(value)),
                _ => format!("{key}{value}"),
            });
        }
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn names(key: &[u8], p4: u8, p6: u8) -> Redaction {
        Redaction {
            key: key.to_vec(),
            keep_prefix4: p4,
            keep_prefix6: p6,
        }
    }

    /// The permutation is one: every address of a small range (a /20 kept
    /// in its first 20 bits) maps to a distinct address of that range.
    #[test]
    fn addresses_never_meet() {
        let how = names(b"0123456789abcdef", 20, 0);
        let n = Names::new(&how);
        let base = u32::from(Ipv4Addr::new(203, 0, 112, 0));
        let mut seen = HashSet::new();
        for i in 0..4096u32 {
            let out = n.ipv4(Ipv4Addr::from(base + i));
            assert_eq!(u32::from(out) >> 12, base >> 12, "{out} left the /20");
            assert!(seen.insert(out), "two addresses became {out}");
        }
        // Odd widths too: /31 keeps one bit to permute.
        let how = names(b"0123456789abcdef", 31, 0);
        let n = Names::new(&how);
        let a = n.ipv4(Ipv4Addr::new(198, 51, 100, 6));
        let b = n.ipv4(Ipv4Addr::new(198, 51, 100, 7));
        assert_ne!(a, b);
    }

    #[test]
    fn loopback_is_kept_and_nothing_becomes_it() {
        let how = names(b"0123456789abcdef", 0, 0);
        let mut n = Names::new(&how);
        for kept in ["127.0.0.1", "0.0.0.0", "::1", "::", ""] {
            assert_eq!(n.address(kept), kept);
        }
        for i in 0..2000u32 {
            let out = n.ipv4(Ipv4Addr::from(0x0b00_0000 + i * 7919));
            assert!(!out.is_loopback() && !out.is_unspecified(), "{out}");
        }
        // An IPv4-mapped IPv6 address hides its IPv4 address as itself.
        let v4 = n.address("203.0.113.7");
        assert_eq!(n.address("::ffff:203.0.113.7"), format!("::ffff:{v4}"));
    }

    #[test]
    fn the_same_key_gives_the_same_names() {
        let (a, b) = (
            names(b"0123456789abcdef", 0, 0),
            names(b"fedcba9876543210", 0, 0),
        );
        let (mut a1, mut a2, mut b1) = (Names::new(&a), Names::new(&a), Names::new(&b));
        for v in ["10.1.2.3", "2001:db8::42", "/run/x.sock", "@abstract"] {
            assert_eq!(a1.address(v), a2.address(v));
            assert_ne!(a1.address(v), b1.address(v));
            assert_ne!(a1.address(v), v);
        }
        assert_eq!(a1.name("comm", "nginx"), a2.name("comm", "nginx"));
        assert_ne!(a1.name("comm", "nginx"), a1.name("host", "nginx"));
        assert!(a1.address("/run/x.sock").starts_with("/redacted/"));
        assert!(a1.address("@abstract").starts_with("@redacted-"));
        assert!(a1.address("2001:db8::42").parse::<Ipv6Addr>().is_ok());
        assert_eq!(key_id(b"0123456789abcdef"), key_id(b"0123456789abcdef"));
        assert_ne!(key_id(b"0123456789abcdef"), key_id(b"fedcba9876543210"));
    }

    #[test]
    fn filters_keep_their_shape() {
        let how = names(b"0123456789abcdef", 0, 0);
        let mut n = Names::new(&how);
        let comm = n.name("comm", "my app");
        let out = n.filters("pid=42 comm=my app cgroup=/sys/fs/cgroup/a b events=connect");
        assert!(
            out.starts_with(&format!("pid=42 comm={comm} cgroup=/redacted/")),
            "{out}"
        );
        assert!(out.ends_with(" events=connect"), "{out}");
        assert!(!out.contains("my app") && !out.contains("/sys/fs"));
        assert_eq!(n.filters(""), "");
        assert_eq!(n.filters("garbage"), "(redacted)");
    }
}
