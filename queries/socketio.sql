-- socketio: socket messages by process, direction, protocol and remote port
-- live: summary: at the end of the recording, and every --interval if given (`sockrec record --report`)
--
-- Reproduces socketio(8) of BPF Performance Tools (Gregg, 2019, ch. 10), a
-- bpftrace program on kprobe:sock_recvmsg and kprobe:sock_sendmsg that
-- counts `@io[comm, pid, "read"|"write", protocol, remote port]`: the
-- protocol's kernel name (`sk->sk_prot->name`: TCP, TCPv6, UDP, UNIX...)
-- and the socket's remote port (`skc_dport`, 0 when not connected).
--
-- How the capture maps onto it:
-- - recv rows are "read", send rows "write", failed ones included (the
--   kprobes fire at entry, before the result is known).
-- - The remote port is the socket's: a message row names its socket by
--   `inode`; the socket's rows that carry a peer (connect, accept/accept4,
--   tcp_state, tcp_retransmit: `rport`) give its port. A socket with none
--   (UNIX, an unconnected UDP socket) has port 0, as skc_dport is then.
-- - The protocol is named as the kernel's struct proto is, from the
--   socket's family, type and protocol: TCP/TCPv6, UDP/UDPv6,
--   UNIX-STREAM (stream) or UNIX (datagram, seqpacket; kernels before 5.14
--   name both UNIX), PING/PINGv6, RAW/RAWv6, NETLINK, MPTCP; other sockets
--   by proto_short().
-- - Sorted as bpftrace prints a map: by count, smallest first. `host` is a
--   key too, shown (first) by the tool format only when the captures come
--   from several hosts.
--
-- Where it differs, and why:
-- - A message on a socket whose connect/accept was not recorded (made
--   before recording began, or filtered out) has port 0 unless a TCP state
--   change or retransmit of it was recorded: the capture can only name the
--   peer of a socket it saw connected.
WITH ports AS (
    SELECT host, inode, max(rport) AS rport
    FROM events
    WHERE inode IS NOT NULL AND rport IS NOT NULL
    GROUP BY host, inode
),
io AS (
    SELECT
        e.host,
        e.comm,
        e.pid,
        CASE e.kind WHEN 'recv' THEN 'read' ELSE 'write' END AS dir,
        CASE
            WHEN e.family IN (2, 10) AND e.protocol IN (6, 17, 1, 58, 255, 262) THEN
                CASE e.protocol
                    WHEN 6 THEN 'TCP'
                    WHEN 17 THEN 'UDP'
                    WHEN 262 THEN 'MPTCP'
                    WHEN 255 THEN 'RAW'
                    ELSE 'PING'
                END || CASE WHEN e.family = 10 AND e.protocol <> 262 THEN 'v6' ELSE '' END
            WHEN e.family = 2 AND e.sock_type = 3 THEN 'RAW'
            WHEN e.family = 10 AND e.sock_type = 3 THEN 'RAWv6'
            WHEN e.family = 1 AND e.sock_type = 1 THEN 'UNIX-STREAM'
            WHEN e.family = 1 THEN 'UNIX'
            WHEN e.family = 16 THEN 'NETLINK'
            ELSE coalesce(proto_short(e.family, e.protocol), CAST(e.protocol AS VARCHAR))
        END AS protocol,
        coalesce(p.rport, 0) AS port
    FROM events e
    LEFT JOIN ports p ON e.host = p.host AND e.inode = p.inode
    WHERE e.kind IN ('send', 'recv')
)
SELECT 'io' AS map, host, comm, pid, dir, protocol, port, count(*) AS count
FROM io
GROUP BY host, comm, pid, dir, protocol, port
ORDER BY count, host, comm, pid, dir, protocol, port
