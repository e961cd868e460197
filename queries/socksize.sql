-- socksize: socket I/O sizes by process and direction, as histograms
-- live: summary: at the end of the recording, and every --interval if given (`sockrec record --report`)
--
-- Reproduces socksize(8) of BPF Performance Tools (Gregg, 2019, ch. 10), a
-- bpftrace program on kretprobe:sock_recvmsg and kretprobe:sock_sendmsg
-- that draws `@read_bytes[comm]` and `@write_bytes[comm]`, power-of-2
-- histograms (hist()) of the bytes each call returned.
--
-- How the capture maps onto it:
-- - recv rows are read_bytes, send rows write_bytes; their `bytes` (what
--   the message moved) is the kretprobe's return value. Failed messages
--   (`bytes` NULL) are left out, as the original's `retval < 0x7fffffff`
--   leaves out negative returns.
-- - One row per bucket that has values: `low` <= bytes < `high`, the
--   bucket of bpftrace's hist() (`hist_low`, `hist_high`: [0], [1], [2, 4),
--   [4, 8)...). The tool format draws each histogram as bpftrace does,
--   buckets between with no values included (as 0); --format csv/json has
--   the buckets with values only.
-- - Histograms are ordered as bpftrace prints them: by map, then by their
--   total count, smallest first.
-- - `host` is a key too: the tool format shows it (first key) only when the
--   captures come from several hosts.
--
-- Where it differs, and why:
-- - The original keys by `comm` alone, merging processes of one name; so
--   does this report.
WITH sizes AS (
    SELECT
        CASE kind WHEN 'recv' THEN 'read_bytes' ELSE 'write_bytes' END AS map,
        host,
        comm,
        hist_low(bytes) AS low,
        hist_high(bytes) AS high,
        count(*) AS count
    FROM events
    WHERE kind IN ('send', 'recv') AND bytes IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5
)
SELECT map, host, comm, low, high, count
FROM (
    SELECT *, sum(count) OVER (PARTITION BY map, host, comm) AS total FROM sizes
)
ORDER BY map, total, host, comm, low NULLS FIRST
