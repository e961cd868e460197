//! Kernel struct field offsets, from the running kernel's BTF.
//!
//! Rust eBPF has no CO-RE relocations yet, so instead of compiling offsets
//! in we look each field up in `/sys/kernel/btf/vmlinux` at load time and
//! hand the result to the programs as the `FIELDS` global. A field path
//! walks anonymous structs and unions the way C member access does (most of
//! `struct sock_common` sits in them), and bitfields keep their bit position:
//! `sk_protocol` and `sk_type` were bitfields before Linux 5.6 (commit
//! bf9765145b85 "sock: Make sk_protocol a 16-bit value").

use anyhow::{Context as _, Result, anyhow, bail};
use btf_rs::{Btf, Type};
use sockrec_common::{FieldSpec, KernelFields};
use std::path::Path;

/// Where the kernel publishes its own BTF (CONFIG_DEBUG_INFO_BTF).
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Reads the kernel BTF at `path`.
pub fn open(path: &Path) -> Result<Btf> {
    Btf::from_file(path).map_err(|e| {
        anyhow!(
            "cannot read kernel BTF at {} ({e}); sockrec needs a kernel built with CONFIG_DEBUG_INFO_BTF",
            path.display()
        )
    })
}

/// Resolves every field the programs read from the kernel's BTF.
///
/// Fields every supported kernel has are required; the IPv6 peer address is
/// optional (absent without CONFIG_IPV6) and left empty when missing.
pub fn resolve(btf: &Btf) -> Result<KernelFields> {
    let f = |s: &str, p: &str| field(btf, s, p);
    Ok(KernelFields {
        task_files: f("task_struct", "files")?,
        files_fdt: f("files_struct", "fdt")?,
        fdt_max_fds: f("fdtable", "max_fds")?,
        fdt_fd: f("fdtable", "fd")?,
        file_private_data: f("file", "private_data")?,
        socket_type: f("socket", "type")?,
        socket_file: f("socket", "file")?,
        socket_sk: f("socket", "sk")?,
        sk_family: f("sock", "__sk_common.skc_family")?,
        sk_protocol: f("sock", "sk_protocol")?,
        sk_type: f("sock", "sk_type")?,
        sk_daddr: f("sock", "__sk_common.skc_daddr")?,
        sk_dport: f("sock", "__sk_common.skc_dport")?,
        sk_v6_daddr: f("sock", "__sk_common.skc_v6_daddr").unwrap_or_default(),
        // Only for the tp_btf way's direct loads: a kernel without one of
        // them (size 0) just does not get that way.
        task_pid: f("task_struct", "pid").unwrap_or_default(),
        task_tgid: f("task_struct", "tgid").unwrap_or_default(),
        task_comm: f("task_struct", "comm").unwrap_or_default(),
        task_cred: f("task_struct", "cred").unwrap_or_default(),
        cred_uid: f("cred", "uid.val").unwrap_or_default(),
        task_cgroups: f("task_struct", "cgroups").unwrap_or_default(),
        css_set_dfl_cgrp: f("css_set", "dfl_cgrp").unwrap_or_default(),
        cgroup_kn: f("cgroup", "kn").unwrap_or_default(),
        kernfs_node_id: f("kernfs_node", "id").unwrap_or_default(),
        // What connections are made of (#13): optional, so a kernel that
        // lacks one records the rest; the columns they fill are then null.
        sk_socket: f("sock", "sk_socket").unwrap_or_default(),
        file_inode: f("file", "f_inode").unwrap_or_default(),
        inode_ino: f("inode", "i_ino").unwrap_or_default(),
        sk_rcv_saddr: f("sock", "__sk_common.skc_rcv_saddr").unwrap_or_default(),
        inet_sport: f("inet_sock", "inet_sport").unwrap_or_default(),
        sk_num: f("sock", "__sk_common.skc_num").unwrap_or_default(),
        sk_v6_rcv_saddr: f("sock", "__sk_common.skc_v6_rcv_saddr").unwrap_or_default(),
        sk_state: f("sock", "__sk_common.skc_state").unwrap_or_default(),
        tcp_bytes_acked: f("tcp_sock", "bytes_acked").unwrap_or_default(),
        tcp_bytes_received: f("tcp_sock", "bytes_received").unwrap_or_default(),
    })
}

/// Whether the kernel has the BPF helper `bpf_<name>`: the kernel's BTF
/// lists every helper it knows in `enum bpf_func_id` (`BPF_FUNC_<name>`,
/// include/uapi/linux/bpf.h).
pub fn has_helper(btf: &Btf, name: &str) -> bool {
    let want = format!("BPF_FUNC_{name}");
    btf.resolve_types_by_name("bpf_func_id")
        .unwrap_or_default()
        .iter()
        .any(|t| match t {
            Type::Enum(e) => e
                .members
                .iter()
                .any(|m| btf.resolve_name(m).is_ok_and(|n| n == want)),
            _ => false,
        })
}

/// The [`FieldSpec`] of `path` (dot-separated member names) in `struct name`.
pub fn field(btf: &Btf, name: &str, path: &str) -> Result<FieldSpec> {
    let mut ty = struct_by_name(btf, name)?;
    let mut bit_offset = 0u32;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let (off, member) = find_member(btf, &ty, part)?
            .ok_or_else(|| anyhow!("kernel BTF: struct {name} has no member {path}"))?;
        bit_offset += off;
        let mty = resolve_alias(btf, btf.resolve_chained_type(&member)?)?;
        if parts.peek().is_none() {
            if let Some(bits) = member.bitfield_size().filter(|&b| b != 0) {
                let byte = bit_offset / 8;
                let shift = bit_offset % 8;
                return Ok(FieldSpec {
                    offset: byte,
                    size: (shift + bits).div_ceil(8) as u8,
                    shift: shift as u8,
                    bits: bits as u8,
                    _pad: 0,
                });
            }
            if !bit_offset.is_multiple_of(8) {
                bail!("kernel BTF: {name}.{path} is not byte aligned");
            }
            return Ok(FieldSpec {
                offset: bit_offset / 8,
                size: type_size(btf, &mty).with_context(|| format!("size of {name}.{path}"))? as u8,
                shift: 0,
                bits: 0,
                _pad: 0,
            });
        }
        ty = mty;
    }
    bail!("empty field path for struct {name}")
}

fn struct_by_name(btf: &Btf, name: &str) -> Result<Type> {
    btf.resolve_types_by_name(name)
        .with_context(|| format!("kernel BTF has no struct {name}"))?
        .into_iter()
        .find(|t| matches!(t, Type::Struct(s) if !s.members.is_empty()))
        .ok_or_else(|| anyhow!("kernel BTF has no struct {name}"))
}

/// Finds `name` among the members of `ty`, descending into anonymous
/// members; returns its bit offset from the start of `ty`.
fn find_member(btf: &Btf, ty: &Type, name: &str) -> Result<Option<(u32, btf_rs::Member)>> {
    let members = match ty {
        Type::Struct(s) | Type::Union(s) => &s.members,
        _ => return Ok(None),
    };
    for m in members {
        let mname = btf.resolve_name(m).unwrap_or_default();
        if mname == name {
            return Ok(Some((m.bit_offset(), m.clone())));
        }
        if mname.is_empty() {
            let inner = resolve_alias(btf, btf.resolve_chained_type(m)?)?;
            if let Some((off, found)) = find_member(btf, &inner, name)? {
                return Ok(Some((m.bit_offset() + off, found)));
            }
        }
    }
    Ok(None)
}

/// Follows typedefs and qualifiers to the type that has a size.
fn resolve_alias(btf: &Btf, mut ty: Type) -> Result<Type> {
    for _ in 0..32 {
        ty = match &ty {
            Type::Typedef(t) => btf.resolve_chained_type(t)?,
            Type::Volatile(t) | Type::Const(t) | Type::Restrict(t) => {
                btf.resolve_chained_type(t)?
            }
            Type::TypeTag(t) => btf.resolve_chained_type(t)?,
            _ => return Ok(ty),
        };
    }
    bail!("kernel BTF: type alias chain too long")
}

fn type_size(btf: &Btf, ty: &Type) -> Result<usize> {
    Ok(match ty {
        Type::Array(a) => {
            let elem = resolve_alias(btf, btf.resolve_chained_type(a)?)?;
            type_size(btf, &elem)? * a.len()
        }
        Type::Int(i) => i.size(),
        Type::Ptr(_) => 8,
        Type::Enum(e) => e.size(),
        Type::Enum64(e) => e.size(),
        Type::Struct(s) | Type::Union(s) => s.size(),
        other => bail!("unexpected BTF kind {}", other.name()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The running kernel's BTF resolves every field, with sizes that match
    /// the C types (pointers 8, `umode_t` 2, `short` 2, `__be32` 4...).
    #[test]
    fn resolves_running_kernel() {
        let f = resolve(&open(Path::new(VMLINUX_BTF)).unwrap()).unwrap();
        assert_eq!(f.task_files.size, 8);
        // The tp_btf way's: pid_t, char[16], pointers, u64.
        assert_eq!((f.task_pid.size, f.task_tgid.size), (4, 4));
        assert_eq!(f.task_comm.size, 16);
        assert_eq!((f.task_cred.size, f.task_cgroups.size), (8, 8));
        assert_eq!(f.cred_uid.size, 4);
        assert_eq!((f.css_set_dfl_cgrp.size, f.cgroup_kn.size), (8, 8));
        assert_eq!(f.kernfs_node_id.size, 8);
        assert_eq!(f.fdt_fd.size, 8);
        assert_eq!(f.file_private_data.size, 8);
        assert_eq!((f.socket_file.size, f.socket_sk.size), (8, 8));
        assert_eq!(f.socket_type.size, 2);
        assert_eq!(f.sk_family.size, 2);
        assert_eq!(f.sk_daddr.size, 4);
        assert_eq!(f.sk_dport.size, 2);
        assert_eq!(f.sk_v6_daddr.size, 16);
        // Connections: pointers, unsigned long, __be32, __u16, u64.
        assert_eq!((f.sk_socket.size, f.file_inode.size), (8, 8));
        assert_eq!(f.inode_ino.size, 8);
        assert_eq!((f.sk_rcv_saddr.size, f.inet_sport.size), (4, 2));
        assert_eq!(f.sk_num.size, 2);
        assert_eq!(f.sk_v6_rcv_saddr.size, 16);
        assert_eq!(f.sk_state.size, 1);
        assert_eq!((f.tcp_bytes_acked.size, f.tcp_bytes_received.size), (8, 8));
        // sk_common is the first member of struct sock.
        assert!(f.sk_family.offset < 64);
        assert!(f.sk_protocol.size == 2 || f.sk_protocol.bits == 8);
    }

    /// The running kernel (6.1 or later in the test matrix) has
    /// `bpf_get_current_task_btf` (5.11+), and no helper that is not one.
    #[test]
    fn finds_helpers_in_running_kernel() {
        let btf = open(Path::new(VMLINUX_BTF)).unwrap();
        assert!(has_helper(&btf, "get_current_task_btf"));
        assert!(has_helper(&btf, "ringbuf_reserve"));
        assert!(!has_helper(&btf, "get_current_task_btf_v2"));
    }

    /// A minimal BTF blob: `struct sock_common { unsigned short skc_family; }`
    /// and a `struct sock` laid out as before Linux 5.6, where
    /// `sk_userlocks:4`, `sk_protocol:8` and `sk_type:16` share one
    /// `unsigned int` at byte 16 (include/net/sock.h, v5.4).
    fn old_sock_btf() -> Vec<u8> {
        let mut strings = b"\0".to_vec();
        let mut name = |n: &str| {
            let off = strings.len() as u32;
            strings.extend_from_slice(n.as_bytes());
            strings.push(0);
            off
        };
        let (uint, ushort, sk_common, skc_family, sock, common, padding, locks, proto, ty) = (
            name("unsigned int"),
            name("unsigned short"),
            name("sock_common"),
            name("skc_family"),
            name("sock"),
            name("__sk_common"),
            name("sk_padding"),
            name("sk_userlocks"),
            name("sk_protocol"),
            name("sk_type"),
        );
        let mut types: Vec<u32> = Vec::new();
        let kind = |kind: u32, vlen: u32, flag: u32| (flag << 31) | (kind << 24) | vlen;
        // [1] unsigned int, [2] unsigned short (BTF_KIND_INT: size, then bits).
        types.extend([uint, kind(1, 0, 0), 4, 32]);
        types.extend([ushort, kind(1, 0, 0), 2, 16]);
        // [3] struct sock_common { unsigned short skc_family; } (size 16).
        types.extend([sk_common, kind(4, 1, 0), 16, skc_family, 2, 0]);
        // [4] struct sock, kind_flag set: member offsets carry bitfield sizes.
        types.extend([sock, kind(4, 5, 1), 24]);
        types.extend([common, 3, 0]);
        types.extend([padding, 1, (1 << 24) | 128]);
        types.extend([locks, 1, (4 << 24) | (128 + 4)]);
        types.extend([proto, 1, (8 << 24) | (128 + 8)]);
        types.extend([ty, 1, (16 << 24) | (128 + 16)]);
        let types: Vec<u8> = types.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut out = Vec::new();
        out.extend(0xeb9fu16.to_le_bytes());
        out.extend([1u8, 0]);
        for w in [
            24u32,
            0,
            types.len() as u32,
            types.len() as u32,
            strings.len() as u32,
        ] {
            out.extend(w.to_le_bytes());
        }
        out.extend(types);
        out.extend(strings);
        out
    }

    /// Bitfields resolve to the bytes that hold them, the shift into those
    /// bytes and their width, as the eBPF side reads them.
    #[test]
    fn resolves_pre_5_6_bitfields() {
        let btf = Btf::from_bytes(&old_sock_btf()).unwrap();
        let spec = |path| field(&btf, "sock", path).unwrap();
        let fs = |offset, size, shift, bits| FieldSpec {
            offset,
            size,
            shift,
            bits,
            _pad: 0,
        };
        assert_eq!(spec("sk_protocol"), fs(17, 1, 0, 8));
        assert_eq!(spec("sk_type"), fs(18, 2, 0, 16));
        assert_eq!(spec("sk_userlocks"), fs(16, 1, 4, 4));
        assert_eq!(spec("__sk_common.skc_family"), fs(0, 2, 0, 0));
        // What the program does with a spec, on the bytes of such a sock:
        // userlocks=5, protocol=IPPROTO_UDP (17), type=SOCK_DGRAM (2).
        let word: u32 = (5 << 4) | (17 << 8) | (2 << 16);
        let read = |f: FieldSpec| {
            let bytes = &word.to_le_bytes()[(f.offset - 16) as usize..];
            let mut v = 0u64;
            for (i, b) in bytes.iter().take(f.size as usize).enumerate() {
                v |= u64::from(*b) << (8 * i);
            }
            (v >> f.shift) & ((1 << f.bits) - 1)
        };
        assert_eq!(read(spec("sk_protocol")), 17);
        assert_eq!(read(spec("sk_type")), 2);
        assert_eq!(read(spec("sk_userlocks")), 5);
    }
}
