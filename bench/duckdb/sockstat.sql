-- sockstat, in DuckDB: queries/sockstat.sql (what `sockrec query sockstat`
-- runs) translated for `cargo xtask bench query`, same grouping and order.
-- Translated: DuckDB reads `time` as TIMESTAMPTZ in microseconds, and has
-- no nanosecond intervals, so the entry time subtracts whole microseconds
-- of latency (a call entered within 1 µs of a second's end can land in
-- the next second: immaterial to the timing).
SELECT
    date_trunc('second', entry) AS second,
    probe,
    count(*) AS count
FROM (
    SELECT
        time - to_microseconds(coalesce(latency_ns, 0)::BIGINT // 1000) AS entry,
        CASE kind
            WHEN 'send' THEN 'kprobe:sock_sendmsg'
            WHEN 'recv' THEN 'kprobe:sock_recvmsg'
            ELSE 'tracepoint:syscalls:sys_enter_' || kind
        END AS probe
    FROM events
    WHERE kind IN ('socket', 'socketpair', 'bind', 'connect', 'accept', 'accept4', 'send', 'recv')
)
GROUP BY second, probe
ORDER BY second, count, probe;
