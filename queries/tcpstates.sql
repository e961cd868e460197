-- tcpstates: each TCP state change, with the time spent in the old state
-- live: event: each row within a second of its event (`sockrec record --report`)
--
-- Reproduces BCC's tcpstates(8) (Gregg; BPF Performance Tools ch. 10
-- lists it), which traces sock:inet_sock_set_state and prints `SKADDR
-- C-PID C-COMM LADDR LPORT RADDR RPORT OLDSTATE -> NEWSTATE MS`: the
-- struct sock address, the task current when the state changed, both
-- ends, and the ms since this socket's previous change (0.000 for the
-- first change seen, and for the first after a CLOSE: the original
-- forgets a socket at CLOSE).
--
-- How the capture maps onto it:
-- - One line per tcp_state row: `sock` is SKADDR (in hex), `pid`/`comm`
--   are C-PID/C-COMM (the current task, which for a change made in softirq
--   is whatever ran: pid 0, swapper/N; as in the original, C- says so),
--   `old_state`/`state` are OLDSTATE/NEWSTATE.
-- - MS: from the previous tcp_state row of the same `sock` (on the same
--   host), 0 when there is none or it was a change to CLOSE; `ms` in
--   --format csv/json is exact (not rounded to 3 decimals), and `time`,
--   `host`, `ip` (4 or 6, the original's -w/-s column) are extra.
--   CSV column names are the headings in lower case with `-` as `_`
--   (`c_pid`, `c_comm`). The tool format shows HOST first only when the
--   captures come from several hosts.
--
-- Where it differs, and why:
-- - Addresses show whole, LADDR and RADDR as wide as the longest one (the
--   original's `%-15s` lets an IPv6 address push the rest of the line;
--   its -w option widens them to 39).
-- - A socket's first change in the capture may not be its first: its
--   earlier ones happened before recording began (the original's too).
-- - A socket with no peer (a listener) shows RADDR and RPORT as `-` (NULL
--   in csv/json), where the original prints the zero address and port 0.
WITH states AS (
    SELECT
        time, time_ns, host, sock, pid, comm, family, laddr, lport, raddr, rport,
        CAST(old_state AS VARCHAR) AS old_state,
        CAST(state AS VARCHAR) AS state,
        lag(time_ns) OVER (PARTITION BY host, sock ORDER BY time_ns) AS prev_ns,
        lag(CAST(state AS VARCHAR)) OVER (PARTITION BY host, sock ORDER BY time_ns) AS prev_state
    FROM events
    WHERE kind = 'tcp_state'
)
SELECT
    time,
    host,
    to_hex(sock) AS skaddr,
    pid AS c_pid,
    comm AS c_comm,
    CASE family WHEN 2 THEN 4 ELSE 6 END AS ip,
    laddr,
    lport,
    raddr,
    rport,
    old_state AS oldstate,
    state AS newstate,
    CASE WHEN prev_ns IS NULL OR prev_state = 'CLOSE' THEN 0.0
         ELSE CAST(time_ns - prev_ns AS DOUBLE) / 1e6 END AS ms
FROM states
ORDER BY time_ns, host, sock
