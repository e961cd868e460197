-- tcptop: TCP throughput by connection, per interval
-- live: interval: each interval's rows when it ends (`sockrec record --report`)
-- live context: kind IN ('connect', 'accept', 'accept4', 'tcp_state', 'tcp_retransmit')
--
-- Reproduces BCC's tcptop(8) (Gregg; BPF Performance Tools ch. 10), which
-- sums the bytes of tcp_sendmsg and tcp_cleanup_rbuf by process and
-- connection and prints, every interval (1 s by default), a time line and
-- `PID COMM LADDR RADDR RX_KB TX_KB` (LADDR and RADDR as ADDR:PORT), IPv4
-- connections first, then IPv6 ones under `LADDR6 RADDR6`, each sorted by
-- their bytes, most first.
--
-- How the capture maps onto it:
-- - send and recv rows of TCP sockets over IPv4/IPv6 that moved bytes,
--   summed by interval, host, process (`pid`, `comm` of the message: the
--   process that sent or read, as the original's current task) and
--   connection. The connection's ends are its socket's (`inode`): from the
--   rows that carry them (connect, accept/accept4, tcp_state,
--   tcp_retransmit). Messages of a socket with no such row (connected
--   before recording began) are summed under unknown ends (`-`).
-- - Intervals are `--interval` seconds long (`$interval_ns`), aligned on
--   the wall clock (UTC); `time` is an interval's end, when the original
--   would print it. Intervals with no TCP bytes are left out.
-- - RX_KB and TX_KB are whole KiB, rounded down as the original;
--   `rx_bytes` and `tx_bytes` in --format csv/json are exact. `host` is
--   extra; the tool format shows HOST first only when the captures come
--   from several hosts.
--
-- Where it differs, and why:
-- - The time line has no load average (`loadavg:`): the capture doesn't
--   record it. Intervals follow each other separated by an empty line
--   (the original's -C) rather than clearing the screen.
-- - Bytes are counted as the socket calls moved them (sock_sendmsg,
--   sock_recvmsg), the same bytes the original counts in TCP.
WITH ends AS (
    SELECT host, inode, max(laddr) AS laddr, max(lport) AS lport,
        max(raddr) AS raddr, max(rport) AS rport
    FROM events
    WHERE inode IS NOT NULL AND laddr IS NOT NULL AND raddr IS NOT NULL
        AND rport IS NOT NULL AND lport IS NOT NULL AND lport <> 0
        AND kind IN ('connect', 'accept', 'accept4', 'tcp_state', 'tcp_retransmit')
    GROUP BY host, inode
),
io AS (
    SELECT
        CAST(time AS BIGINT) / $interval_ns AS slot,
        m.host, m.pid, CAST(m.comm AS VARCHAR) AS comm, m.family,
        e.laddr, e.lport, e.raddr, e.rport,
        CASE WHEN m.kind = 'recv' THEN m.bytes ELSE 0 END AS rx,
        CASE WHEN m.kind = 'send' THEN m.bytes ELSE 0 END AS tx
    FROM events m
    LEFT JOIN ends e ON e.host = m.host AND e.inode = m.inode
    WHERE m.kind IN ('send', 'recv') AND m.protocol = 6 AND m.family IN (2, 10)
        AND m.bytes > 0
)
SELECT
    arrow_cast((slot + 1) * $interval_ns, 'Timestamp(Nanosecond, Some("UTC"))') AS time,
    host,
    CASE family WHEN 2 THEN 4 ELSE 6 END AS ip,
    pid,
    comm,
    laddr,
    lport,
    raddr,
    rport,
    sum(rx) / 1024 AS rx_kb,
    sum(tx) / 1024 AS tx_kb,
    sum(rx) AS rx_bytes,
    sum(tx) AS tx_bytes
FROM io
GROUP BY slot, host, family, pid, comm, laddr, lport, raddr, rport
ORDER BY slot, host, ip, sum(rx) + sum(tx) DESC, pid, laddr, lport, raddr, rport
