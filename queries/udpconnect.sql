-- udpconnect: each UDP connect(2), with the address it connected to
-- live: event: each row within a second of its event (`sockrec record --report`)
--
-- Reproduces udpconnect(8) of BPF Performance Tools (Gregg, 2019, ch. 10),
-- a bpftrace program on kprobe:ip4_datagram_connect and
-- kprobe:ip6_datagram_connect that prints `TIME PID COMM IP RADDR RPORT`
-- for each connect of a UDP socket to an IPv4 or IPv6 address.
--
-- How the capture maps onto it:
-- - connect rows of UDP sockets (`protocol` 17) whose address
--   (`addr_family`) is AF_INET or AF_INET6: the calls that reach
--   ip{4,6}_datagram_connect. IP is 4 or 6 by the address's family, as the
--   original prints it.
-- - TIME is when the call was entered (UTC; bpftrace's time() prints local
--   time), the moment the kprobe fires.
-- - `host` is an extra column for --format csv/json; the tool format shows
--   HOST first only when the captures come from several hosts. `errno`
--   (its name) is extra too: the kprobe fires whether or not the connect
--   succeeds, so the original doesn't say.
--
-- Where it differs, and why:
-- - IPv6 addresses show whole, RADDR as wide as the longest one (the
--   original's `%-16s` lets a longer address push RPORT right).
-- - connect(2) with AF_UNSPEC (disconnecting a UDP socket) also calls
--   ip4_datagram_connect; the original skips it by its family check, as
--   this report does.
SELECT
    time,
    host,
    pid,
    comm,
    CASE addr_family WHEN 2 THEN 4 ELSE 6 END AS ip,
    addr AS raddr,
    port AS rport,
    errno_name(errno) AS errno
FROM events
WHERE kind = 'connect' AND protocol = 17 AND addr_family IN (2, 10)
ORDER BY time_ns, tid
