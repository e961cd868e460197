-- tcpaccept: each TCP connection accepted, with both ends
-- live: event: each row within a second of its event (`sockrec record --report`)
--
-- Reproduces tcpaccept(8) of BPF Performance Tools (Gregg, 2019, ch. 10), a
-- bpftrace program on kretprobe:inet_csk_accept that prints `TIME PID COMM
-- RADDR RPORT LADDR LPORT BL` for each connection a process accepts: the
-- peer, the local end, and the listener's backlog (`qlen/qmax`).
--
-- How the capture maps onto it:
-- - accept/accept4 rows that returned an IPv4 or IPv6 TCP socket, at
--   their return (`time_ns + latency_ns`), as the kretprobe fires: RADDR,
--   RPORT the peer (`raddr`, `rport`), LADDR, LPORT the new socket's local
--   end (`laddr`, `lport`).
-- - BL: the backlog of the listen(2) on that port (same host, `lport`),
--   the latest one before the accept; `-` when the capture has none.
-- - TIME is UTC, at the accept's return (bpftrace's time() prints local
--   time). `host` is extra in --format csv/json; the tool format shows
--   HOST first only when the captures come from several hosts.
--
-- Where it differs, and why:
-- - BL is the listen(2) backlog as the program passed it (the kernel caps
--   it at net.core.somaxconn), not `qlen/qmax` at the accept: the capture
--   does not record the queue's length.
-- - COMM is not cut to 14 characters (the original's `%-14s` lets longer
--   names push the line; comm is at most 15).
WITH accepts AS (
    SELECT
        time_ns + coalesce(latency_ns, 0) AS t,
        time + arrow_cast(coalesce(latency_ns, 0), 'Duration(Nanosecond)') AS time,
        host, tid, pid, comm,
        raddr, rport, laddr, lport
    FROM events
    WHERE kind IN ('accept', 'accept4') AND ret >= 0
        AND family IN (2, 10) AND protocol = 6
),
backlogs AS (
    SELECT
        a.t, a.host, a.tid, l.backlog,
        row_number() OVER (PARTITION BY a.host, a.tid, a.t ORDER BY l.time_ns DESC) AS n
    FROM accepts a
    JOIN events l ON l.host = a.host AND l.kind = 'listen' AND l.lport = a.lport
        AND l.time_ns < a.t AND l.ret = 0
)
SELECT
    a.time,
    a.host,
    a.pid,
    a.comm,
    a.raddr,
    a.rport,
    a.laddr,
    a.lport,
    b.backlog AS bl
FROM accepts a
LEFT JOIN backlogs b ON b.host = a.host AND b.tid = a.tid AND b.t = a.t AND b.n = 1
ORDER BY a.t, a.host, a.tid
