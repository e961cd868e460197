-- solisten: each listen(2) on an IPv4/IPv6 socket, with its backlog
-- live: event: each row within a second of its event (`sockrec record --report`)
--
-- Reproduces BCC's solisten(8) (Jean-Tiare Le Bigot; BPF Performance
-- Tools ch. 10 lists it), a kprobe on inet_listen that prints `PID COMM
-- PROTO BACKLOG PORT ADDR` for each listen on an IP socket: PROTO is TCP
-- or UDP (the socket's type) and v4 or v6 (its family), PORT and ADDR the
-- address it listens on.
--
-- How the capture maps onto it:
-- - listen rows of AF_INET/AF_INET6 sockets: `backlog` as passed, `lport`
--   and `laddr` (the bound address: 0.0.0.0 or :: for any).
-- - `host`, `time` and `errno` (its name: the kprobe fires before the
--   call can fail) are extra in --format csv/json; the tool format shows
--   HOST first only when the captures come from several hosts.
--
-- Where it differs, and why:
-- - ADDR for an IPv4 socket is its address as text (the original's
--   inet_ntop of a 4-byte address). Otherwise as the original, COMM cut to
--   12 characters (`%-12.12s`; `comm` whole in --format csv/json).
SELECT
    time,
    host,
    pid,
    comm,
    CASE sock_type WHEN 1 THEN 'TCP' WHEN 2 THEN 'UDP' ELSE 'UNK' END
        || CASE family WHEN 2 THEN 'v4' ELSE 'v6' END AS proto,
    backlog,
    lport AS port,
    laddr AS addr,
    errno_name(errno) AS errno
FROM events
WHERE kind = 'listen' AND family IN (2, 10)
ORDER BY time_ns, host, tid
