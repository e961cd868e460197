-- soconnect, in DuckDB: queries/soconnect.sql (what `sockrec query
-- soconnect` runs) translated for `cargo xtask bench query`: `//` for the
-- integer division (DuckDB's `/` gives a double); `errno_message` and
-- `errno_name` are macros from run.py standing in for sockrec's SQL
-- functions.
SELECT
    time,
    pid,
    comm,
    addr_family AS family,
    addr AS address,
    port,
    latency_ns // 1000 AS latency_us,
    CASE WHEN in_flight THEN '(in flight)' ELSE errno_message(coalesce(errno, 0)) END AS result,
    errno_name(errno) AS errno
FROM events
WHERE kind = 'connect' AND addr_family IN (2, 10)
ORDER BY time_ns, tid;
