-- tcpretrans: each TCP retransmit, with both ends and the socket's state
-- live: event: each row within a second of its event (`sockrec record --report`)
--
-- Reproduces tcpretrans(8) of BPF Performance Tools (Gregg, 2019, ch. 10),
-- a bpftrace program on kprobe:tcp_retransmit_skb that prints `TIME PID
-- LADDR:LPORT RADDR:RPORT STATE` for each retransmitted segment.
--
-- How the capture maps onto it:
-- - One line per tcp_retransmit row (tcp:tcp_retransmit_skb), its ends
--   (`laddr`, `lport`, `raddr`, `rport`) and `state`.
-- - PID: retransmits are mostly sent from the retransmit timer, in softirq,
--   where the current task is whatever was running (pid 0 often): the
--   original prints that. Here PID (and `comm`, extra) is the socket's
--   owner when the capture knows it: the process of the connect or
--   accept/accept4 of that `sock` in the same life (the life of a `sock`
--   ends at its change to CLOSE; see tcplife), else the current task.
-- - TIME is UTC (bpftrace's time() prints local time). `host` and `comm`
--   are extra in --format csv/json; the tool format shows HOST first only
--   when the captures come from several hosts.
--
-- Where it differs, and why:
-- - PID is the owner's, not the interrupted task's (above): the point of
--   the report is which process's connections retransmit.
-- - Addresses show whole: LADDR:LPORT and RADDR:RPORT are as wide as the
--   longest (the original right-aligns the address in 14 characters and
--   lets a longer one push the rest of the line).
WITH marks AS (
    SELECT
        host, sock, time_ns AS t, time, kind, pid, CAST(comm AS VARCHAR) AS comm,
        CAST(state AS VARCHAR) AS state, laddr, lport, raddr, rport
    FROM events
    WHERE kind IN ('tcp_state', 'tcp_retransmit') AND sock IS NOT NULL
    UNION ALL
    SELECT
        host, sock,
        CASE WHEN kind = 'connect' THEN time_ns ELSE time_ns + coalesce(latency_ns, 0) END AS t,
        time, kind, pid, CAST(comm AS VARCHAR) AS comm,
        NULL, NULL, NULL, NULL, NULL
    FROM events
    WHERE kind IN ('connect', 'accept', 'accept4') AND sock IS NOT NULL
),
lives AS (
    SELECT *,
        coalesce(sum(CASE WHEN kind = 'tcp_state' AND state = 'CLOSE' THEN 1 ELSE 0 END) OVER (
            PARTITION BY host, sock ORDER BY t
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS life
    FROM marks
),
owners AS (
    SELECT host, sock, life, pid, comm,
        row_number() OVER (PARTITION BY host, sock, life ORDER BY t) AS n
    FROM lives
    WHERE kind IN ('connect', 'accept', 'accept4')
)
SELECT
    r.time,
    r.host,
    coalesce(o.pid, r.pid) AS pid,
    coalesce(o.comm, r.comm) AS comm,
    r.laddr,
    r.lport,
    r.raddr,
    r.rport,
    r.state
FROM lives r
LEFT JOIN owners o ON o.host = r.host AND o.sock = r.sock AND o.life = r.life AND o.n = 1
WHERE r.kind = 'tcp_retransmit'
ORDER BY r.t, r.host, r.sock
