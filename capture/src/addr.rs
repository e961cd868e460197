//! Decoding the raw `struct sockaddr` bytes the kernel copies into
//! [`SocketEvent::addr`](sockrec_common::SocketEvent::addr) into the
//! `addr_family`, `addr` and `port` columns.
//!
//! Decoding borrows from the event and formats straight into the column's
//! string builder ([`fmt::Display`]), so recording an address allocates
//! nothing per event.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use sockrec_common::ADDR_CAP;

pub use sockrec_common::{AF_INET, AF_INET6, AF_UNIX};

/// `offsetof(struct sockaddr_un, sun_path)`: the family field.
const SUN_PATH_OFFSET: usize = 2;
/// Bytes of a `sockaddr_in` we need: family, port, address.
const SOCKADDR_IN_MIN: usize = 8;
/// Bytes of a `sockaddr_in6` we need: family, port, flowinfo, address
/// (`SIN6_LEN_RFC2133`, the shortest the kernel accepts; `sin6_scope_id` follows).
const SOCKADDR_IN6_MIN: usize = 24;

/// A socket address as far as the capture cares about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockAddr<'a> {
    /// `sockaddr_in`: address and port (host order).
    Inet(Ipv4Addr, u16),
    /// `sockaddr_in6`: address and port (host order). Flow info and scope id
    /// are not kept.
    Inet6(Ipv6Addr, u16),
    /// `sockaddr_un` with a path (`sun_path` up to its first NUL).
    UnixPath(&'a [u8]),
    /// `sockaddr_un` in the abstract namespace: the name after the leading
    /// NUL, up to the address length (it may contain NULs itself).
    UnixAbstract(&'a [u8]),
    /// `sockaddr_un` with no name (address length 2: the family alone).
    UnixUnnamed,
    /// A family we don't decode (or an INET/INET6 address too short to hold
    /// one); only its family number is recorded.
    Other(u16),
}

impl<'a> SockAddr<'a> {
    /// Decodes the first `addr_len` bytes of `raw`; `None` when there is no
    /// address (`addr_len < 2`: not even a family).
    pub fn parse(raw: &'a [u8; ADDR_CAP], addr_len: u16) -> Option<SockAddr<'a>> {
        // Never trust the length beyond the buffer: the kernel side clamps it,
        // but a corrupt event must not make the writer panic.
        let len = (addr_len as usize).min(ADDR_CAP);
        if len < 2 {
            return None;
        }
        let raw = &raw[..len];
        // sa_family is in host order; sockrec only runs on little-endian
        // machines (x86_64, aarch64), like the eBPF side (bpfel).
        let family = u16::from_le_bytes([raw[0], raw[1]]);
        // Ports are in network order (big-endian) in both sockaddr_in and _in6.
        let port = || u16::from_be_bytes([raw[2], raw[3]]);
        Some(match family {
            AF_INET if len >= SOCKADDR_IN_MIN => {
                let a: [u8; 4] = raw[4..8].try_into().unwrap();
                SockAddr::Inet(Ipv4Addr::from(a), port())
            }
            AF_INET6 if len >= SOCKADDR_IN6_MIN => {
                let a: [u8; 16] = raw[8..24].try_into().unwrap();
                SockAddr::Inet6(Ipv6Addr::from(a), port())
            }
            AF_UNIX => {
                let path = &raw[SUN_PATH_OFFSET..];
                match path.first() {
                    None => SockAddr::UnixUnnamed,
                    Some(0) => SockAddr::UnixAbstract(&path[1..]),
                    Some(_) => {
                        let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                        SockAddr::UnixPath(&path[..end])
                    }
                }
            }
            other => SockAddr::Other(other),
        })
    }

    /// The `sa_family` the address carried.
    pub fn family(&self) -> u16 {
        match self {
            SockAddr::Inet(..) => AF_INET,
            SockAddr::Inet6(..) => AF_INET6,
            SockAddr::UnixPath(_) | SockAddr::UnixAbstract(_) | SockAddr::UnixUnnamed => AF_UNIX,
            SockAddr::Other(f) => *f,
        }
    }

    /// The port, for INET and INET6 addresses.
    pub fn port(&self) -> Option<u16> {
        match self {
            SockAddr::Inet(_, p) | SockAddr::Inet6(_, p) => Some(*p),
            _ => None,
        }
    }

    /// Whether the address has a text form (the `addr` column is null
    /// otherwise).
    pub fn has_text(&self) -> bool {
        !matches!(self, SockAddr::Other(_))
    }
}

/// The `addr` column's text: `127.0.0.1`, `::1`, `/run/x.sock`, `@name`, or
/// empty for an unnamed unix socket. Writes nothing for [`SockAddr::Other`].
impl fmt::Display for SockAddr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SockAddr::Inet(a, _) => write!(f, "{a}"),
            SockAddr::Inet6(a, _) => write!(f, "{a}"),
            SockAddr::UnixPath(p) => write_lossy(f, p),
            SockAddr::UnixAbstract(p) => {
                f.write_str("@")?;
                write_lossy(f, p)
            }
            SockAddr::UnixUnnamed | SockAddr::Other(_) => Ok(()),
        }
    }
}

/// Writes `bytes` as UTF-8, replacing invalid sequences with U+FFFD like
/// [`String::from_utf8_lossy`] but without allocating.
fn write_lossy(out: &mut impl fmt::Write, bytes: &[u8]) -> fmt::Result {
    for chunk in bytes.utf8_chunks() {
        out.write_str(chunk.valid())?;
        if !chunk.invalid().is_empty() {
            out.write_char(char::REPLACEMENT_CHARACTER)?;
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a raw `sockaddr_in` as the kernel would copy it.
    pub(crate) fn sockaddr_in(ip: [u8; 4], port: u16) -> ([u8; ADDR_CAP], u16) {
        let mut raw = [0u8; ADDR_CAP];
        raw[0..2].copy_from_slice(&AF_INET.to_le_bytes());
        raw[2..4].copy_from_slice(&port.to_be_bytes());
        raw[4..8].copy_from_slice(&ip);
        (raw, 16)
    }

    /// Builds a raw `sockaddr_in6`.
    pub(crate) fn sockaddr_in6(ip: Ipv6Addr, port: u16) -> ([u8; ADDR_CAP], u16) {
        let mut raw = [0u8; ADDR_CAP];
        raw[0..2].copy_from_slice(&AF_INET6.to_le_bytes());
        raw[2..4].copy_from_slice(&port.to_be_bytes());
        raw[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes()); // flowinfo: ignored
        raw[8..24].copy_from_slice(&ip.octets());
        raw[24..28].copy_from_slice(&3u32.to_le_bytes()); // scope id: ignored
        (raw, 28)
    }

    /// Builds a raw `sockaddr_un` with `sun_path` = `path` and the given
    /// address length (which is how abstract names are delimited).
    pub(crate) fn sockaddr_un(path: &[u8], addr_len: u16) -> ([u8; ADDR_CAP], u16) {
        let mut raw = [0u8; ADDR_CAP];
        raw[0..2].copy_from_slice(&AF_UNIX.to_le_bytes());
        raw[2..2 + path.len()].copy_from_slice(path);
        (raw, addr_len)
    }

    fn text(raw: &[u8; ADDR_CAP], len: u16) -> Option<String> {
        SockAddr::parse(raw, len)
            .filter(|a| a.has_text())
            .map(|a| a.to_string())
    }

    #[test]
    fn inet() {
        let (raw, len) = sockaddr_in([127, 0, 0, 1], 8080);
        let a = SockAddr::parse(&raw, len).unwrap();
        assert_eq!(a, SockAddr::Inet(Ipv4Addr::LOCALHOST, 8080));
        assert_eq!(a.to_string(), "127.0.0.1");
        assert_eq!(a.port(), Some(8080));
        assert_eq!(a.family(), AF_INET);
    }

    #[test]
    fn inet6() {
        let (raw, len) = sockaddr_in6(Ipv6Addr::LOCALHOST, 443);
        let a = SockAddr::parse(&raw, len).unwrap();
        assert_eq!(a.to_string(), "::1");
        assert_eq!(a.port(), Some(443));
        let mapped = Ipv4Addr::new(127, 0, 0, 1).to_ipv6_mapped();
        let (raw, len) = sockaddr_in6(mapped, 1);
        assert_eq!(text(&raw, len).unwrap(), "::ffff:127.0.0.1");
        let full: Ipv6Addr = "2001:db8::8a2e:370:7334".parse().unwrap();
        let (raw, len) = sockaddr_in6(full, 1);
        assert_eq!(text(&raw, len).unwrap(), "2001:db8::8a2e:370:7334");
    }

    #[test]
    fn unix_path_stops_at_nul() {
        let (raw, _) = sockaddr_un(b"/run/x.sock\0junk", 0);
        // The length may or may not count the NUL (and the junk after it).
        for len in [2 + 11, 2 + 12, 2 + 16, 110] {
            assert_eq!(text(&raw, len).unwrap(), "/run/x.sock", "len {len}");
        }
        assert_eq!(SockAddr::parse(&raw, 20).unwrap().port(), None);
    }

    #[test]
    fn unix_abstract_uses_length_and_keeps_inner_nuls() {
        let (raw, _) = sockaddr_un(b"\0name\0x", 0);
        assert_eq!(text(&raw, 2 + 5).unwrap(), "@name");
        assert_eq!(text(&raw, 2 + 7).unwrap(), "@name\0x");
        assert_eq!(text(&raw, 3).unwrap(), "@");
    }

    #[test]
    fn unix_unnamed_is_empty() {
        let (raw, len) = sockaddr_un(b"", 2);
        assert_eq!(SockAddr::parse(&raw, len), Some(SockAddr::UnixUnnamed));
        assert_eq!(text(&raw, len).unwrap(), "");
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let (raw, len) = sockaddr_un(b"/tmp/\xff\xfeq", 2 + 8);
        assert_eq!(text(&raw, len).unwrap(), "/tmp/\u{fffd}\u{fffd}q");
    }

    #[test]
    fn no_address_or_unknown_family() {
        let raw = [0u8; ADDR_CAP];
        assert_eq!(SockAddr::parse(&raw, 0), None);
        assert_eq!(SockAddr::parse(&raw, 1), None);
        let mut raw = [0u8; ADDR_CAP];
        raw[0] = 16; // AF_NETLINK
        let a = SockAddr::parse(&raw, 12).unwrap();
        assert_eq!(a, SockAddr::Other(16));
        assert!(!a.has_text());
        assert_eq!(a.port(), None);
        // A truncated sockaddr_in is not decoded, but its family still is.
        let (raw, _) = sockaddr_in([1, 2, 3, 4], 5);
        assert_eq!(SockAddr::parse(&raw, 4), Some(SockAddr::Other(AF_INET)));
        // Lengths beyond the buffer are clamped, not trusted.
        let (raw, _) = sockaddr_un(b"\0abc", 0);
        assert_eq!(text(&raw, u16::MAX).unwrap().len(), 1 + 3 + (ADDR_CAP - 6));
    }
}
