-- tcpconnlat: each TCP connect that completed, with its latency
-- live: event: each row within a second of its event (`sockrec record --report`)
--
-- Reproduces BCC's tcpconnlat(8) (Gregg; BPF Performance Tools ch. 10
-- lists it), which prints `PID COMM IP SADDR DADDR DPORT LAT(ms)` for each
-- active TCP connection: the time from the connect (tcp_v4_connect /
-- tcp_v6_connect) to the SYN-ACK that moved it out of SYN_SENT. Being
-- measured in the kernel, non-blocking connects count like blocking ones.
--
-- How the capture maps onto it:
-- - A connect row of a TCP socket (IPv4/IPv6 address) and the first
--   tcp_state row of the same `sock` (same host) after it that leaves
--   SYN_SENT; listed when that row is the change to ESTABLISHED. LAT is
--   from the connect's entry to that change, whether the connect blocked
--   or returned EINPROGRESS (a non-blocking connect completes there).
-- - PID/COMM are the connect's caller, IP 4 or 6 (the address's family),
--   SADDR the local address and DADDR:DPORT the peer at the change.
-- - Listed in the order the connections completed. `host`, `time` (the
--   connect's entry), `lport` and `lat_ns` (exact) are extra in --format
--   csv/json, where LAT(ms) is `lat_ms` (exact, not rounded to 2
--   decimals). The tool format shows HOST first only when the captures come
--   from several hosts.
--
-- Where it differs, and why:
-- - Connects that failed (refused: SYN_SENT -> CLOSE) are not listed: the
--   original times any reply to the SYN, a RST included, and prints it like
--   a success; here only connections that were made.
-- - LAT starts at connect(2)'s entry rather than tcp_v4_connect's, a few
--   microseconds earlier (the capture has no probe inside connect).
-- - Addresses show whole, SADDR and DADDR as wide as the longest one.
WITH connects AS (
    SELECT time, time_ns, host, sock, pid, tid, comm
    FROM events
    WHERE kind = 'connect' AND sock IS NOT NULL AND protocol = 6
        AND addr_family IN (2, 10)
),
completions AS (
    SELECT
        c.time, c.time_ns, c.host, c.pid, c.tid, c.comm,
        s.time_ns AS done_ns,
        CAST(s.state AS VARCHAR) AS state,
        s.family, s.laddr, s.lport, s.raddr, s.rport,
        row_number() OVER (PARTITION BY c.host, c.tid, c.time_ns ORDER BY s.time_ns) AS n
    FROM connects c
    JOIN events s ON s.host = c.host AND s.sock = c.sock AND s.kind = 'tcp_state'
        AND s.old_state = 'SYN_SENT' AND s.time_ns > c.time_ns
)
SELECT
    time,
    host,
    pid,
    comm,
    CASE family WHEN 2 THEN 4 ELSE 6 END AS ip,
    laddr AS saddr,
    raddr AS daddr,
    rport AS dport,
    CAST(done_ns - time_ns AS DOUBLE) / 1e6 AS lat_ms,
    lport,
    done_ns - time_ns AS lat_ns
FROM completions
WHERE n = 1 AND state = 'ESTABLISHED'
ORDER BY done_ns, host, tid
