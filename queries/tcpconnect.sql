-- tcpconnect: each active TCP connection attempt (SYN sent)
-- live: event: each row within a second of its event (`sockrec record --report`)
--
-- Reproduces tcpconnect(8) of BPF Performance Tools (Gregg, 2019, ch. 10),
-- its tracepoint version (tcpconnect-tp.bt: sock:inet_sock_set_state from
-- CLOSE to SYN_SENT), which prints `TIME PID COMM IP SADDR DADDR DPORT`
-- for each connection a process starts.
--
-- How the capture maps onto it:
-- - tcp_state rows from CLOSE to SYN_SENT. That change is made by the
--   connect(2) call, so `pid`/`comm` are the caller's, as in the original.
--   IP is 4 or 6 (the socket's family), SADDR the local address
--   (`laddr`), DADDR:DPORT the peer (`raddr`, `rport`).
-- - TIME is UTC (bpftrace's time() prints local time). `host` and `lport`
--   (0 at this point: the kernel picks the port right after) are extra in
--   --format csv/json; the tool format shows HOST first only when the
--   captures come from several hosts.
--
-- Where it differs, and why:
-- - Addresses show whole, SADDR and DADDR as wide as the longest one (the
--   original's `%-15s` lets an IPv6 address push the rest of the line).
-- - Non-blocking connects are listed like any other (so does the
--   original: the change happens inside connect(2) either way).
SELECT
    time,
    host,
    pid,
    comm,
    CASE family WHEN 2 THEN 4 ELSE 6 END AS ip,
    laddr AS saddr,
    raddr AS daddr,
    rport AS dport,
    lport
FROM events
WHERE kind = 'tcp_state' AND old_state = 'CLOSE' AND state = 'SYN_SENT'
ORDER BY time_ns, host, sock
