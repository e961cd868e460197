-- soaccept: each IPv4/IPv6 accept with its peer and result
-- live: event: each row within a second of its event (`sockrec record --report`)
--
-- Reproduces soaccept(8) of BPF Performance Tools (Gregg, 2019, ch. 10), a
-- bpftrace program on tracepoint:syscalls:sys_{enter,exit}_accept{,4} that
-- prints, at each accept's return, `PID PROCESS FAM ADDRESS PORT RESULT`:
-- the peer's address as accept(2) wrote it to the caller's sockaddr.
--
-- How the capture maps onto it:
-- - accept and accept4 rows whose address (`addr_family`, `addr`, `port`:
--   the peer accept wrote back) is IPv4 or IPv6, in the order they
--   returned (`time_ns + latency_ns`), as the original prints at sys_exit.
-- - `host`, `time` (entry) and `errno` (its name) are extra columns for
--   --format csv/json; the tool format shows HOST first only when the
--   captures come from several hosts.
--
-- Where it differs, and why:
-- - RESULT is strerror's message for every errno, "Success" for 0, as in
--   soconnect: the original's @err2str has its own fourteen messages
--   ("None to accept" for EAGAIN) and prints nothing for others.
-- - A failed accept writes no address, so it has no row here; the original
--   reads the caller's sockaddr anyway, and prints whatever an earlier call
--   left there (or nothing, if it was zeroed).
-- - IPv6 addresses show whole, ADDRESS as wide as the longest one (the
--   original's `%-16s` lets a longer address push the rest of its line).
-- - Calls still blocked in accept when recording stopped are not listed:
--   they returned no peer yet (the original never prints them either).
SELECT
    time,
    host,
    pid,
    comm AS process,
    addr_family AS fam,
    addr AS address,
    port,
    errno_message(coalesce(errno, 0)) AS result,
    errno_name(errno) AS errno
FROM events
WHERE kind IN ('accept', 'accept4') AND addr_family IN (2, 10) AND NOT in_flight
ORDER BY time_ns + coalesce(latency_ns, 0), tid
