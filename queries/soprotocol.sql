-- soprotocol: accepts and connects by process and transport protocol
-- live: summary: at the end of the recording, and every --interval if given (`sockrec record --report`)
--
-- Reproduces soprotocol(8) of BPF Performance Tools (Gregg, 2019, ch. 10):
-- a bpftrace program on kprobe:security_socket_accept and
-- kprobe:security_socket_connect that counts calls by `comm` and the
-- socket's `sk_protocol`, printed as
-- `@connect[comm, 6, IPPROTO_TCP, TCP]: count`.
--
-- How the capture maps onto it: every accept/accept4 and connect call
-- (the security hooks run before the call waits or fails, so failed and
-- still-in-flight calls count too), keyed by the socket's `protocol`
-- column, which the recorder reads from the kernel's sk_protocol like the
-- original; for accept, the listening socket's.
--
-- Where it differs, and why:
-- - Accepts and connects are kept apart (`@accept` and `@connect`): the
--   original attaches one action to both hooks and files both under
--   `@connect`, so a server's accepts read as outgoing connections.
-- - The protocol is the whole number: the original masks it with `& 0xff`,
--   which shows MPTCP (262) as 6, TCP.
-- - The last key, the short name, is `proto_short(family, protocol)`: TCP,
--   UDP... for IP sockets, the family for others (UNIX, NETLINK); the book
--   prints the kernel's `sk->sk_prot->name` (TCP, TCPv6, UNIX-STREAM...),
--   which a capture doesn't hold. As in the original, a UNIX socket's
--   protocol 0 is named IPPROTO_IP.
--
-- Seed bugs in the reference source (not reproduced):
-- - Its example output has four keys (`[Java, 6, IPPROTO_TCP, TCP]`) but
--   its source prints three; and `IPPROTO_UNIX`, in that output, exists in
--   no header.
-- - `Bprot2str[IPPROTO_TCP] = ...` at top level, outside any probe, is not
--   bpftrace (the book fills `@prot2str` in BEGIN), and knows only four
--   protocols.
SELECT
    CASE kind WHEN 'connect' THEN 'connect' ELSE 'accept' END AS map,
    comm,
    protocol,
    proto_name(protocol) AS protocol_name,
    proto_short(family, protocol) AS protocol_short,
    sum(calls) AS count
FROM (
    -- Counted by the columns as stored first, and named after: the names
    -- are then made once per group, not once per call.
    SELECT kind, comm, family, protocol, count(*) AS calls
    FROM events
    WHERE kind IN ('accept', 'accept4', 'connect')
    GROUP BY kind, comm, family, protocol
)
-- The map's keys, as bpftrace's: IPv4 and IPv6 TCP are one line.
GROUP BY map, comm, protocol, protocol_name, protocol_short
-- bpftrace prints maps by name, each sorted by value, smallest first.
ORDER BY map, count, comm, protocol, protocol_short
