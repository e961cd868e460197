-- soconnect: IPv4 and IPv6 connects, one line each, with latency and result
-- live: event: each row within a second of its event (`sockrec record --report`)
--
-- Reproduces soconnect(8) of BPF Performance Tools (Gregg, 2019, ch. 10):
-- a bpftrace program that prints, when each connect(2) to an AF_INET or
-- AF_INET6 address returns, `PID PROCESS FAM ADDRESS PORT LAT(us) RESULT`,
-- the latency being the syscall's (entry to exit).
--
-- How the capture maps onto it: connect events whose `addr_family` is 2
-- or 10, in the order they were made (`time_ns`, the call's entry), with
-- `addr`, `port` and `latency_ns` / 1000. `time`, `host` and `errno` (the errno's name) are
-- extra columns for --format csv/json; the tool format shows HOST first
-- only when the captures come from several hosts (PIDs are per host).
--
-- Where it differs, and why:
-- - IPv6 addresses show whole, in an ADDRESS column as wide as the longest
--   one: the original prints into `%-16s`, so longer addresses shift the
--   rest of their line, and its IPv6 branch calls
--   `inet_ntop(AF_INET6, &$sin6->sin6_addr, s, sizeof(s))`, C's signature,
--   which bpftrace doesn't have (its `ntop()` takes the address alone).
-- - RESULT is strerror's message for every errno ("Success" for 0,
--   "Connection refused" for ECONNREFUSED): the original's Berr2str has
--   twelve home-made messages ("Routing cache insuff." for EAGAIN), no
--   entry for 0, so successful connects print an empty RESULT, and no
--   entry for common errors (ECONNREFUSED, EINPROGRESS), printed empty too.
-- - A connect still blocked when recording stopped is listed with no
--   latency and RESULT "(in flight)": the original never prints it.
--
-- Seed bugs in the reference source (not reproduced):
-- - `Berr2str[EPERM] = ...` at top level, outside any probe, is not
--   bpftrace (the book fills `@err2str` in BEGIN, with 0 = "Success").
-- - `inet_ntoa($sin->sin_addr)` is not a bpftrace function (`ntop` is).
-- - Its example output shows an IPv6 address with FAM 2.
SELECT
    time,
    host,
    pid,
    comm,
    addr_family AS family,
    addr AS address,
    port,
    -- Whole microseconds, as bpftrace's integer division gives them.
    CAST(latency_ns AS BIGINT) / 1000 AS latency_us,
    CASE WHEN in_flight THEN '(in flight)' ELSE errno_message(coalesce(errno, 0)) END AS result,
    errno_name(errno) AS errno
FROM events
WHERE kind = 'connect' AND addr_family IN (2, 10)
ORDER BY time_ns, tid
