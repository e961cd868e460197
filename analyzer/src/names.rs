//! Names for the numbers in a capture: address families, socket types,
//! protocols and errno values, as C and the BPF tools spell them.
//!
//! A capture stores raw numbers (`family = 10`, `errno = 111`) so that
//! nothing is lost; SQL users and the reports want `AF_INET6` and
//! "Connection refused". The tables here are Linux's, complete — the seed
//! tools only knew a handful each (sofamily's `Bfan2str` four families,
//! soconnect's `Berr2str` twelve errnos with home-made messages), and print
//! an empty string for anything else. [`crate::udf`] exposes them to SQL.

/// `AF_*` from include/linux/socket.h (AF_MAX is 46).
const ADDRESS_FAMILIES: [&str; 46] = [
    "AF_UNSPEC",
    "AF_UNIX",
    "AF_INET",
    "AF_AX25",
    "AF_IPX",
    "AF_APPLETALK",
    "AF_NETROM",
    "AF_BRIDGE",
    "AF_ATMPVC",
    "AF_X25",
    "AF_INET6",
    "AF_ROSE",
    "AF_DECnet",
    "AF_NETBEUI",
    "AF_SECURITY",
    "AF_KEY",
    "AF_NETLINK",
    "AF_PACKET",
    "AF_ASH",
    "AF_ECONET",
    "AF_ATMSVC",
    "AF_RDS",
    "AF_SNA",
    "AF_IRDA",
    "AF_PPPOX",
    "AF_WANPIPE",
    "AF_LLC",
    "AF_IB",
    "AF_MPLS",
    "AF_CAN",
    "AF_TIPC",
    "AF_BLUETOOTH",
    "AF_IUCV",
    "AF_RXRPC",
    "AF_ISDN",
    "AF_PHONET",
    "AF_IEEE802154",
    "AF_CAIF",
    "AF_ALG",
    "AF_NFC",
    "AF_VSOCK",
    "AF_KCM",
    "AF_QIPCRTR",
    "AF_SMC",
    "AF_XDP",
    "AF_MCTP",
];

/// `AF_INET` → `Some("AF_INET")`; `None` for numbers Linux doesn't define.
pub fn af_name(family: i64) -> Option<&'static str> {
    usize::try_from(family)
        .ok()
        .and_then(|i| ADDRESS_FAMILIES.get(i).copied())
}

/// `SOCK_*` from include/linux/net.h (the type without its NONBLOCK/CLOEXEC
/// flags, as the capture's `sock_type` column holds it).
pub fn sock_type_name(sock_type: i64) -> Option<&'static str> {
    Some(match sock_type {
        1 => "SOCK_STREAM",
        2 => "SOCK_DGRAM",
        3 => "SOCK_RAW",
        4 => "SOCK_RDM",
        5 => "SOCK_SEQPACKET",
        6 => "SOCK_DCCP",
        10 => "SOCK_PACKET",
        _ => return None,
    })
}

/// `IPPROTO_*` from include/uapi/linux/in.h (and in6.h for the IPv6
/// extension headers), with the short name soprotocol(8) prints after it.
const IP_PROTOCOLS: &[(i64, &str, &str)] = &[
    (0, "IPPROTO_IP", "IP"),
    (1, "IPPROTO_ICMP", "ICMP"),
    (2, "IPPROTO_IGMP", "IGMP"),
    (4, "IPPROTO_IPIP", "IPIP"),
    (6, "IPPROTO_TCP", "TCP"),
    (8, "IPPROTO_EGP", "EGP"),
    (12, "IPPROTO_PUP", "PUP"),
    (17, "IPPROTO_UDP", "UDP"),
    (22, "IPPROTO_IDP", "IDP"),
    (29, "IPPROTO_TP", "TP"),
    (33, "IPPROTO_DCCP", "DCCP"),
    (41, "IPPROTO_IPV6", "IPV6"),
    (43, "IPPROTO_ROUTING", "ROUTING"),
    (44, "IPPROTO_FRAGMENT", "FRAGMENT"),
    (46, "IPPROTO_RSVP", "RSVP"),
    (47, "IPPROTO_GRE", "GRE"),
    (50, "IPPROTO_ESP", "ESP"),
    (51, "IPPROTO_AH", "AH"),
    (58, "IPPROTO_ICMPV6", "ICMPV6"),
    (59, "IPPROTO_NONE", "NONE"),
    (60, "IPPROTO_DSTOPTS", "DSTOPTS"),
    (92, "IPPROTO_MTP", "MTP"),
    (94, "IPPROTO_BEETPH", "BEETPH"),
    (98, "IPPROTO_ENCAP", "ENCAP"),
    (103, "IPPROTO_PIM", "PIM"),
    (108, "IPPROTO_COMP", "COMP"),
    (115, "IPPROTO_L2TP", "L2TP"),
    (132, "IPPROTO_SCTP", "SCTP"),
    (135, "IPPROTO_MH", "MH"),
    (136, "IPPROTO_UDPLITE", "UDPLITE"),
    (137, "IPPROTO_MPLS", "MPLS"),
    (143, "IPPROTO_ETHERNET", "ETHERNET"),
    (255, "IPPROTO_RAW", "RAW"),
    (262, "IPPROTO_MPTCP", "MPTCP"),
];

/// The protocol number's `IPPROTO_*` name (`6` → `IPPROTO_TCP`), whatever
/// the socket's family: like soprotocol(8)'s `Bprot2str`, which names a
/// UNIX socket's protocol 0 `IPPROTO_IP`.
pub fn proto_name(protocol: i64) -> Option<&'static str> {
    IP_PROTOCOLS
        .iter()
        .find(|(n, _, _)| *n == protocol)
        .map(|(_, name, _)| *name)
}

const AF_INET: i64 = sockrec_capture::addr::AF_INET as i64;
const AF_INET6: i64 = sockrec_capture::addr::AF_INET6 as i64;

/// What a person calls the socket's protocol: `TCP`, `UDP` for IP sockets
/// (the IPPROTO name without its prefix); for the other families, whose
/// protocol numbers mean something else (0 for UNIX sockets), the family
/// without its prefix: `UNIX`, `NETLINK`, `PACKET`. With no family (`None`),
/// the protocol is taken as an IP one.
pub fn proto_short(family: Option<i64>, protocol: i64) -> Option<&'static str> {
    match family {
        None | Some(AF_INET) | Some(AF_INET6) => IP_PROTOCOLS
            .iter()
            .find(|(n, _, _)| *n == protocol)
            .map(|(_, _, short)| *short),
        Some(f) => af_name(f).map(|name| &name[3..]),
    }
}

/// Linux's errno values (include/uapi/asm-generic/errno-base.h and
/// errno.h; x86, arm64 and riscv use these) with glibc's `strerror`
/// messages. Where two names share a number (EWOULDBLOCK, EDEADLOCK,
/// ENOTSUP) the one glibc's `strerrorname_np` gives is used.
#[rustfmt::skip]
const ERRNOS: &[(i64, &str, &str)] = &[
    (1, "EPERM", "Operation not permitted"),
    (2, "ENOENT", "No such file or directory"),
    (3, "ESRCH", "No such process"),
    (4, "EINTR", "Interrupted system call"),
    (5, "EIO", "Input/output error"),
    (6, "ENXIO", "No such device or address"),
    (7, "E2BIG", "Argument list too long"),
    (8, "ENOEXEC", "Exec format error"),
    (9, "EBADF", "Bad file descriptor"),
    (10, "ECHILD", "No child processes"),
    (11, "EAGAIN", "Resource temporarily unavailable"),
    (12, "ENOMEM", "Cannot allocate memory"),
    (13, "EACCES", "Permission denied"),
    (14, "EFAULT", "Bad address"),
    (15, "ENOTBLK", "Block device required"),
    (16, "EBUSY", "Device or resource busy"),
    (17, "EEXIST", "File exists"),
    (18, "EXDEV", "Invalid cross-device link"),
    (19, "ENODEV", "No such device"),
    (20, "ENOTDIR", "Not a directory"),
    (21, "EISDIR", "Is a directory"),
    (22, "EINVAL", "Invalid argument"),
    (23, "ENFILE", "Too many open files in system"),
    (24, "EMFILE", "Too many open files"),
    (25, "ENOTTY", "Inappropriate ioctl for device"),
    (26, "ETXTBSY", "Text file busy"),
    (27, "EFBIG", "File too large"),
    (28, "ENOSPC", "No space left on device"),
    (29, "ESPIPE", "Illegal seek"),
    (30, "EROFS", "Read-only file system"),
    (31, "EMLINK", "Too many links"),
    (32, "EPIPE", "Broken pipe"),
    (33, "EDOM", "Numerical argument out of domain"),
    (34, "ERANGE", "Numerical result out of range"),
    (35, "EDEADLK", "Resource deadlock avoided"),
    (36, "ENAMETOOLONG", "File name too long"),
    (37, "ENOLCK", "No locks available"),
    (38, "ENOSYS", "Function not implemented"),
    (39, "ENOTEMPTY", "Directory not empty"),
    (40, "ELOOP", "Too many levels of symbolic links"),
    (42, "ENOMSG", "No message of desired type"),
    (43, "EIDRM", "Identifier removed"),
    (44, "ECHRNG", "Channel number out of range"),
    (45, "EL2NSYNC", "Level 2 not synchronized"),
    (46, "EL3HLT", "Level 3 halted"),
    (47, "EL3RST", "Level 3 reset"),
    (48, "ELNRNG", "Link number out of range"),
    (49, "EUNATCH", "Protocol driver not attached"),
    (50, "ENOCSI", "No CSI structure available"),
    (51, "EL2HLT", "Level 2 halted"),
    (52, "EBADE", "Invalid exchange"),
    (53, "EBADR", "Invalid request descriptor"),
    (54, "EXFULL", "Exchange full"),
    (55, "ENOANO", "No anode"),
    (56, "EBADRQC", "Invalid request code"),
    (57, "EBADSLT", "Invalid slot"),
    (59, "EBFONT", "Bad font file format"),
    (60, "ENOSTR", "Device not a stream"),
    (61, "ENODATA", "No data available"),
    (62, "ETIME", "Timer expired"),
    (63, "ENOSR", "Out of streams resources"),
    (64, "ENONET", "Machine is not on the network"),
    (65, "ENOPKG", "Package not installed"),
    (66, "EREMOTE", "Object is remote"),
    (67, "ENOLINK", "Link has been severed"),
    (68, "EADV", "Advertise error"),
    (69, "ESRMNT", "Srmount error"),
    (70, "ECOMM", "Communication error on send"),
    (71, "EPROTO", "Protocol error"),
    (72, "EMULTIHOP", "Multihop attempted"),
    (73, "EDOTDOT", "RFS specific error"),
    (74, "EBADMSG", "Bad message"),
    (75, "EOVERFLOW", "Value too large for defined data type"),
    (76, "ENOTUNIQ", "Name not unique on network"),
    (77, "EBADFD", "File descriptor in bad state"),
    (78, "EREMCHG", "Remote address changed"),
    (79, "ELIBACC", "Can not access a needed shared library"),
    (80, "ELIBBAD", "Accessing a corrupted shared library"),
    (81, "ELIBSCN", ".lib section in a.out corrupted"),
    (82, "ELIBMAX", "Attempting to link in too many shared libraries"),
    (83, "ELIBEXEC", "Cannot exec a shared library directly"),
    (84, "EILSEQ", "Invalid or incomplete multibyte or wide character"),
    (85, "ERESTART", "Interrupted system call should be restarted"),
    (86, "ESTRPIPE", "Streams pipe error"),
    (87, "EUSERS", "Too many users"),
    (88, "ENOTSOCK", "Socket operation on non-socket"),
    (89, "EDESTADDRREQ", "Destination address required"),
    (90, "EMSGSIZE", "Message too long"),
    (91, "EPROTOTYPE", "Protocol wrong type for socket"),
    (92, "ENOPROTOOPT", "Protocol not available"),
    (93, "EPROTONOSUPPORT", "Protocol not supported"),
    (94, "ESOCKTNOSUPPORT", "Socket type not supported"),
    (95, "EOPNOTSUPP", "Operation not supported"),
    (96, "EPFNOSUPPORT", "Protocol family not supported"),
    (97, "EAFNOSUPPORT", "Address family not supported by protocol"),
    (98, "EADDRINUSE", "Address already in use"),
    (99, "EADDRNOTAVAIL", "Cannot assign requested address"),
    (100, "ENETDOWN", "Network is down"),
    (101, "ENETUNREACH", "Network is unreachable"),
    (102, "ENETRESET", "Network dropped connection on reset"),
    (103, "ECONNABORTED", "Software caused connection abort"),
    (104, "ECONNRESET", "Connection reset by peer"),
    (105, "ENOBUFS", "No buffer space available"),
    (106, "EISCONN", "Transport endpoint is already connected"),
    (107, "ENOTCONN", "Transport endpoint is not connected"),
    (108, "ESHUTDOWN", "Cannot send after transport endpoint shutdown"),
    (109, "ETOOMANYREFS", "Too many references: cannot splice"),
    (110, "ETIMEDOUT", "Connection timed out"),
    (111, "ECONNREFUSED", "Connection refused"),
    (112, "EHOSTDOWN", "Host is down"),
    (113, "EHOSTUNREACH", "No route to host"),
    (114, "EALREADY", "Operation already in progress"),
    (115, "EINPROGRESS", "Operation now in progress"),
    (116, "ESTALE", "Stale file handle"),
    (117, "EUCLEAN", "Structure needs cleaning"),
    (118, "ENOTNAM", "Not a XENIX named type file"),
    (119, "ENAVAIL", "No XENIX semaphores available"),
    (120, "EISNAM", "Is a named type file"),
    (121, "EREMOTEIO", "Remote I/O error"),
    (122, "EDQUOT", "Disk quota exceeded"),
    (123, "ENOMEDIUM", "No medium found"),
    (124, "EMEDIUMTYPE", "Wrong medium type"),
    (125, "ECANCELED", "Operation canceled"),
    (126, "ENOKEY", "Required key not available"),
    (127, "EKEYEXPIRED", "Key has expired"),
    (128, "EKEYREVOKED", "Key has been revoked"),
    (129, "EKEYREJECTED", "Key was rejected by service"),
    (130, "EOWNERDEAD", "Owner died"),
    (131, "ENOTRECOVERABLE", "State not recoverable"),
    (132, "ERFKILL", "Operation not possible due to RF-kill"),
    (133, "EHWPOISON", "Memory page has hardware error"),
    // Kernel-internal values (include/linux/errno.h). They never reach a
    // program, but a syscall exit tracepoint can see them: an `accept`
    // interrupted by a signal exits with -ERESTARTSYS before the kernel
    // restarts it or turns it into EINTR.
    (512, "ERESTARTSYS", "Interrupted system call, to be restarted"),
    (513, "ERESTARTNOINTR", "Interrupted system call, to be restarted"),
    (514, "ERESTARTNOHAND", "Interrupted system call, restarted if no handler"),
    (515, "ENOIOCTLCMD", "No ioctl command"),
    (516, "ERESTART_RESTARTBLOCK", "Interrupted system call, restarted by restart_syscall"),
    (517, "EPROBE_DEFER", "Driver requests probe retry"),
    (518, "EOPENSTALE", "Open found a stale dentry"),
    (519, "ENOPARAM", "Parameter not supported"),
    (521, "EBADHANDLE", "Illegal NFS file handle"),
    (522, "ENOTSYNC", "Update synchronization mismatch"),
    (523, "EBADCOOKIE", "Cookie is stale"),
    (524, "ENOTSUPP", "Operation is not supported"),
    (525, "ETOOSMALL", "Buffer or request is too small"),
    (526, "ESERVERFAULT", "An untranslatable error occurred"),
    (527, "EBADTYPE", "Type not supported by server"),
    (528, "EJUKEBOX", "Request initiated, but will not complete before timeout"),
    (529, "EIOCBQUEUED", "iocb queued, will get completion event"),
    (530, "ERECALLCONFLICT", "Conflict with recalled state"),
    (531, "ENOGRACE", "NFS file lock reclaim refused"),
];

fn errno_entry(errno: i64) -> Option<&'static (i64, &'static str, &'static str)> {
    // The table is sorted by number.
    ERRNOS
        .binary_search_by_key(&errno, |(n, _, _)| *n)
        .ok()
        .map(|i| &ERRNOS[i])
}

/// `111` → `Some("ECONNREFUSED")`; `None` for 0 and unknown numbers.
pub fn errno_name(errno: i64) -> Option<&'static str> {
    errno_entry(errno).map(|(_, name, _)| *name)
}

/// What `strerror` says: `111` → "Connection refused", `0` → "Success",
/// unknown numbers → "Unknown error N" (where soconnect(8)'s `Berr2str`
/// prints nothing).
pub fn errno_message(errno: i64) -> String {
    if errno == 0 {
        return "Success".to_string();
    }
    match errno_entry(errno) {
        Some((_, _, message)) => message.to_string(),
        None => format!("Unknown error {errno}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_match_libc() {
        for (n, name) in [
            (libc::AF_UNSPEC, "AF_UNSPEC"),
            (libc::AF_UNIX, "AF_UNIX"),
            (libc::AF_INET, "AF_INET"),
            (libc::AF_INET6, "AF_INET6"),
            (libc::AF_NETLINK, "AF_NETLINK"),
            (libc::AF_PACKET, "AF_PACKET"),
            (libc::AF_VSOCK, "AF_VSOCK"),
            (libc::AF_XDP, "AF_XDP"),
        ] {
            assert_eq!(af_name(n.into()), Some(name));
        }
        assert_eq!(af_name(46), None);
        assert_eq!(af_name(-1), None);
    }

    #[test]
    fn protocols() {
        assert_eq!(proto_name(libc::IPPROTO_TCP.into()), Some("IPPROTO_TCP"));
        assert_eq!(proto_name(libc::IPPROTO_UDP.into()), Some("IPPROTO_UDP"));
        assert_eq!(
            proto_name(libc::IPPROTO_MPTCP.into()),
            Some("IPPROTO_MPTCP")
        );
        assert_eq!(proto_name(0), Some("IPPROTO_IP"));
        assert_eq!(proto_short(Some(2), 6), Some("TCP"));
        assert_eq!(proto_short(Some(10), 17), Some("UDP"));
        assert_eq!(proto_short(Some(1), 0), Some("UNIX"));
        assert_eq!(proto_short(Some(16), 0), Some("NETLINK"));
        assert_eq!(proto_short(None, 132), Some("SCTP"));
        assert_eq!(
            sock_type_name(libc::SOCK_SEQPACKET.into()),
            Some("SOCK_SEQPACKET")
        );
    }

    /// Every errno libc names has the same number here, and the same
    /// message as this machine's C library.
    #[test]
    fn errnos_match_libc() {
        assert!(ERRNOS.windows(2).all(|w| w[0].0 < w[1].0), "sorted, unique");
        for (n, name) in [
            (libc::EPERM, "EPERM"),
            (libc::EAGAIN, "EAGAIN"),
            (libc::EDEADLK, "EDEADLK"),
            (libc::EOPNOTSUPP, "EOPNOTSUPP"),
            (libc::ECONNREFUSED, "ECONNREFUSED"),
            (libc::EINPROGRESS, "EINPROGRESS"),
            (libc::ENETUNREACH, "ENETUNREACH"),
            (libc::EHWPOISON, "EHWPOISON"),
        ] {
            assert_eq!(errno_name(n.into()), Some(name));
        }
        for &(n, _, message) in ERRNOS.iter().filter(|(n, _, _)| *n < 512) {
            // SAFETY: strerror returns a NUL-terminated static string.
            let c = unsafe { std::ffi::CStr::from_ptr(libc::strerror(n as i32)) };
            assert_eq!(c.to_str().unwrap(), message, "errno {n}");
        }
        assert_eq!(errno_message(0), "Success");
        assert_eq!(errno_message(41), "Unknown error 41");
        assert_eq!(errno_name(0), None);
    }
}
