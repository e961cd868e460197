-- sockstat: socket calls and messages per second, by probe
-- live: interval: each interval's rows when it ends (`sockrec record --report`)
--
-- Reproduces sockstat(8) of BPF Performance Tools (Gregg, 2019, ch. 10), a
-- bpftrace program that counts, every second, each hit of
-- tracepoint:syscalls:sys_enter_{accept*,connect,bind,socket*} and
-- kprobe:sock_{sendmsg,recvmsg}, printing `@[probe]: count` under a time line.
--
-- How the capture maps onto it:
-- - Probe names are the original's: calls are named after their sys_enter
--   tracepoint (`kind` = connect -> tracepoint:syscalls:sys_enter_connect);
--   messages after the original's kprobes (send -> kprobe:sock_sendmsg,
--   recv -> kprobe:sock_recvmsg). The probe sockrec really used on this
--   kernel is in the `probe` column (e.g. tracepoint:sock:sock_send_length);
--   group by it to see that instead.
-- - A call is counted in the second it was entered, as a sys_enter probe
--   counts it: a call's `time` is its entry time (the kernel stamps it at
--   sys_enter; it returned at `time + latency_ns`), in flight or not.
--   Messages are counted when they passed.
-- - Seconds are UTC (bpftrace's time() prints local time); a second with
--   no events is left out where bpftrace prints an empty map.
-- - Seed bug: the reference's `@[$probe] = count()` uses a scratch variable
--   that is never set (bpftrace refuses it); the book has the builtin
--   `@[probe]`. The reference also drops the book's `time()` in its interval
--   probe, printing maps with no time line; the time line is kept here.
SELECT
    date_trunc('second', time) AS second,
    probe,
    count(*) AS count
FROM (
    SELECT
        time,
        CASE kind
            WHEN 'send' THEN 'kprobe:sock_sendmsg'
            WHEN 'recv' THEN 'kprobe:sock_recvmsg'
            ELSE 'tracepoint:syscalls:sys_enter_' || kind
        END AS probe
    FROM events
    WHERE kind IN ('socket', 'socketpair', 'bind', 'connect', 'accept', 'accept4', 'send', 'recv')
)
GROUP BY second, probe
-- bpftrace prints a map sorted by value, smallest first.
ORDER BY second, count, probe
