-- so1stbyte: time from IP connect to the first byte read, as a histogram (us)
-- live: summary: at the end of the recording, and every --interval if given (`sockrec record --report`)
--
-- Reproduces so1stbyte(8) of BPF Performance Tools (Gregg, 2019, ch. 10), a
-- bpftrace program that times, per process, from the entry of a connect(2)
-- to an IPv4/IPv6 address (that succeeded or returned EINPROGRESS) to the
-- return of the first read-like call on that fd (read, readv, pread,
-- recvfrom, recvmsg, recvmmsg), in microseconds: `@us[comm, pid] =
-- hist(us)`.
--
-- How the capture maps onto it:
-- - connect rows with an AF_INET/AF_INET6 address and no error other than
--   EINPROGRESS; the socket's first recv row after it (same host, same
--   `inode`: the socket, whatever fd or thread reads it) that received
--   data (`bytes` > 0). Microseconds are whole, rounded down as the
--   original's integer division.
-- - One row per bucket that has values: `low` <= us < `high` (see
--   socksize); the tool format draws each histogram as bpftrace does.
--   Histograms are ordered by their total count, smallest first. `host` is
--   a key too, shown (first) by the tool format only when the captures come
--   from several hosts.
--
-- Where it differs, and why:
-- - The first read that returned data, as the report's name says: the
--   original takes the first read call's return, even one that failed
--   (a non-blocking socket's EAGAIN) or read nothing, which times the
--   program rather than the peer.
-- - The read is matched by socket, not by (pid, fd): the original's map
--   mixes up a fd closed and reused, and misses reads by another process
--   that inherited the socket.
-- - A connection that never read before recording stopped is not counted
--   (nor in the original).
WITH connects AS (
    SELECT host, pid, tid, comm, inode, time_ns
    FROM events
    WHERE kind = 'connect' AND addr_family IN (2, 10) AND inode IS NOT NULL
        AND (errno IS NULL OR errno = 115) AND NOT in_flight
),
firsts AS (
    SELECT c.host, c.pid, c.tid, c.comm, c.time_ns, min(r.time_ns) AS read_ns
    FROM connects c
    JOIN events r ON r.host = c.host AND r.inode = c.inode AND r.kind = 'recv'
        AND r.bytes > 0 AND r.time_ns > c.time_ns
    GROUP BY c.host, c.pid, c.tid, c.comm, c.time_ns
),
buckets AS (
    SELECT
        'us' AS map, host, comm, pid,
        hist_low(CAST(read_ns - time_ns AS BIGINT) / 1000) AS low,
        hist_high(CAST(read_ns - time_ns AS BIGINT) / 1000) AS high,
        count(*) AS count
    FROM firsts
    GROUP BY 1, 2, 3, 4, 5, 6
)
SELECT map, host, comm, pid, low, high, count
FROM (
    -- Not by `map`, a constant (as in soconnlat.sql: a Ballista cluster
    -- failed the window over it).
    SELECT *, sum(count) OVER (PARTITION BY host, comm, pid) AS total FROM buckets
)
ORDER BY map, total, host, comm, pid, low NULLS FIRST
