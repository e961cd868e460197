-- tcplife: each TCP session, with its ends, bytes and duration
-- live: event: each row within a second of its event (`sockrec record --report`)
--
-- Reproduces tcplife(8) of BPF Performance Tools (Gregg, 2019, ch. 10; the
-- bpftrace version, as BCC's tcplife), which traces TCP state changes and
-- prints, when a session closes, `PID COMM LADDR LPORT RADDR RPORT TX_KB
-- RX_KB MS`: the bytes sent (acked) and received (tcp_sock.bytes_acked,
-- bytes_received) in KiB, and the time from the session's first state
-- below FIN_WAIT1 (its SYN_SENT, SYN_RECV or ESTABLISHED) to CLOSE, in ms.
--
-- How the capture maps onto it:
-- - A session is one life of a `sock` (the kernel's struct sock address)
--   in the tcp_state rows: a life ends at its change to CLOSE, after which
--   the address may be reused for another socket. One line per change to
--   CLOSE whose life began in the capture, as the original prints only
--   sockets whose birth it saw; ends, bytes (`tx_bytes`, `rx_bytes`) and
--   time are those of the CLOSE row, as the original reads them then.
-- - PID and COMM: the process that made the connection (connect) or took
--   it (accept/accept4: the `sock` of the new socket) in that life; if the
--   capture has neither, as the original: the task that moved it to
--   SYN_SENT or LAST_ACK (the caller of connect, or of close after the
--   peer's), else the task current at CLOSE (often softirq: pid 0).
-- - TX_KB, RX_KB are whole KiB and MS whole ms, rounded down as the
--   original's integer division; `tx_bytes`, `rx_bytes` and `ns` give the
--   exact values in --format csv/json, with `host` and `time` (of the
--   CLOSE). The tool format shows HOST first only when the captures come
--   from several hosts.
--
-- Where it differs, and why:
-- - Addresses show whole, LADDR and RADDR as wide as the longest one (the
--   original's `%-15s` lets an IPv6 address push the rest of its line
--   right); the header's RPORT is as wide as its values (the original
--   prints it `%-5s` over values `%-6d`).
-- - A session open when recording stopped has no line (nor in the
--   original, until it closes).
WITH marks AS (
    -- TCP state changes, and the calls that made or took a connection,
    -- at the time they tie the call to the socket (connect: its entry,
    -- before SYN_SENT; accept: its return, after ESTABLISHED).
    SELECT
        host, sock, time_ns AS t, time, kind, pid, CAST(comm AS VARCHAR) AS comm,
        CAST(state AS VARCHAR) AS state,
        laddr, lport, raddr, rport, tx_bytes, rx_bytes
    FROM events
    WHERE kind = 'tcp_state' AND sock IS NOT NULL
    UNION ALL
    SELECT
        host, sock,
        CASE WHEN kind = 'connect' THEN time_ns ELSE time_ns + coalesce(latency_ns, 0) END AS t,
        time,
        kind, pid, CAST(comm AS VARCHAR) AS comm,
        NULL, NULL, NULL, NULL, NULL, NULL, NULL
    FROM events
    WHERE kind IN ('connect', 'accept', 'accept4') AND sock IS NOT NULL
),
lives AS (
    -- Which life of its `sock` each row belongs to: the CLOSEs before it.
    SELECT *,
        coalesce(sum(CASE WHEN kind = 'tcp_state' AND state = 'CLOSE' THEN 1 ELSE 0 END) OVER (
            PARTITION BY host, sock ORDER BY t
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS life
    FROM marks
),
births AS (
    SELECT host, sock, life, min(t) AS birth
    FROM lives
    WHERE kind = 'tcp_state' AND state IN ('SYN_SENT', 'SYN_RECV', 'ESTABLISHED')
    GROUP BY host, sock, life
),
owners AS (
    SELECT host, sock, life, pid, comm,
        row_number() OVER (PARTITION BY host, sock, life ORDER BY t) AS n
    FROM lives
    WHERE kind <> 'tcp_state'
),
cached AS (
    SELECT host, sock, life, pid, comm,
        row_number() OVER (PARTITION BY host, sock, life ORDER BY t DESC) AS n
    FROM lives
    WHERE kind = 'tcp_state' AND state IN ('SYN_SENT', 'LAST_ACK')
)
SELECT
    e.time,
    e.host,
    coalesce(o.pid, c.pid, e.pid) AS pid,
    coalesce(o.comm, c.comm, e.comm) AS comm,
    e.laddr,
    e.lport,
    e.raddr,
    e.rport,
    -- Integer division (DataFusion divides unsigned integers as decimals).
    CAST(e.tx_bytes AS BIGINT) / 1024 AS tx_kb,
    CAST(e.rx_bytes AS BIGINT) / 1024 AS rx_kb,
    CAST(e.t - b.birth AS BIGINT) / 1000000 AS ms,
    e.tx_bytes,
    e.rx_bytes,
    e.t - b.birth AS ns
FROM lives e
JOIN births b ON b.host = e.host AND b.sock = e.sock AND b.life = e.life
LEFT JOIN owners o ON o.host = e.host AND o.sock = e.sock AND o.life = e.life AND o.n = 1
LEFT JOIN cached c ON c.host = e.host AND c.sock = e.sock AND c.life = e.life AND c.n = 1
WHERE e.kind = 'tcp_state' AND e.state = 'CLOSE'
ORDER BY e.t, e.host, e.sock
