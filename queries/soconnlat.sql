-- soconnlat: IP connect latency by process, as a histogram (us)
-- live: summary: at the end of the recording, and every --interval if given (`sockrec record --report`)
--
-- Reproduces soconnlat(8) of BPF Performance Tools (Gregg, 2019, ch. 10), a
-- bpftrace program that times each connect(2) to an IPv4/IPv6 address in
-- microseconds, `@us[ustack, comm] = hist(us)`: a blocking connect from
-- its entry to its return (whatever the result), a non-blocking one
-- (EINPROGRESS) from its entry to the first poll/select/epoll of the same
-- thread that returns ready.
--
-- How the capture maps onto it:
-- - connect rows with an AF_INET/AF_INET6 address: those that did not
--   return EINPROGRESS count their `latency_ns`; those that did count the
--   time to the connection's completion, the first tcp_state row of the
--   same `sock` that leaves SYN_SENT (to ESTABLISHED, or to CLOSE if
--   refused), the moment the original's poll would wake. Microseconds are
--   whole, rounded down as the original's integer division.
-- - One row per bucket that has values: `low` <= us < `high` (see
--   socksize); the tool format draws each histogram as bpftrace does.
--   Histograms are ordered by their total count, smallest first. `host` is
--   a key too, shown (first) by the tool format only when the captures come
--   from several hosts.
--
-- Where it differs, and why:
-- - No user stack in the key (the capture records none): `@us[comm]`.
-- - A non-blocking connect whose completion the capture lacks (recording
--   stopped first, or a socket that is not TCP) is not counted; nor is one
--   the original would miss (no poll by the same thread), which is counted
--   here.
-- - Connects still blocked when recording stopped are not counted (the
--   original's sys_exit never fires for them either).
WITH connects AS (
    SELECT host, tid, time_ns, comm, sock, latency_ns, errno
    FROM events
    WHERE kind = 'connect' AND addr_family IN (2, 10) AND NOT in_flight
),
waits AS (
    SELECT
        c.host, c.tid, c.time_ns, c.comm, c.latency_ns, c.errno,
        min(s.time_ns) AS done_ns
    FROM connects c
    LEFT JOIN events s ON c.errno = 115 AND s.host = c.host AND s.sock = c.sock
        AND s.kind = 'tcp_state' AND s.old_state = 'SYN_SENT' AND s.time_ns > c.time_ns
    GROUP BY c.host, c.tid, c.time_ns, c.comm, c.latency_ns, c.errno
),
latencies AS (
    SELECT
        host,
        comm,
        CAST(CASE WHEN errno = 115 THEN done_ns - time_ns ELSE latency_ns END AS BIGINT) / 1000 AS us
    FROM waits
    WHERE (errno IS DISTINCT FROM 115) OR (done_ns IS NOT NULL)
),
buckets AS (
    SELECT 'us' AS map, host, comm, hist_low(us) AS low, hist_high(us) AS high, count(*) AS count
    FROM latencies
    GROUP BY 1, 2, 3, 4, 5
)
SELECT map, host, comm, low, high, count
FROM (
    -- Not by `map`, a constant: on a Ballista cluster the window over it
    -- failed ("All partition by columns should have an ordering": the
    -- constant's ordering is not known past a stage's boundary).
    SELECT *, sum(count) OVER (PARTITION BY host, comm) AS total FROM buckets
)
ORDER BY map, total, host, comm, low NULLS FIRST
