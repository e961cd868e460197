-- sofamily: accepts and connects by process and address family
-- live: summary: at the end of the recording, and every --interval if given (`sockrec record --report`)
--
-- Reproduces sofamily(8) of BPF Performance Tools (Gregg, 2019, ch. 10): a
-- bpftrace program counting connect(2) calls by `comm` and the family of
-- the address passed (`uservaddr->sa_family`), and accept(2)/accept4(2)
-- by `comm` and the family of the peer address they return, printed as
-- `@accept[comm, 2, AF_INET]: count` and `@connect[...]` maps.
--
-- How the capture maps onto it:
-- - connect: every call, as the original counts at sys_enter (failed and
--   still-in-flight ones included), keyed by `addr_family`; a connect
--   whose address couldn't be read shows family 0, as bpftrace reads 0.
-- - accept: every accept/accept4 that succeeded, keyed by the peer's
--   family (`addr_family`) or, when the caller passed a NULL address, the
--   socket's own (`family`).
--
-- Where it differs, and why:
-- - Accepts made with a NULL address are counted: the original's
--   `/@sockaddr[tid]/` filter drops them, though they are connections
--   like any other (many servers pass NULL).
-- - An accept that returns fd 0 is counted: the original's `args->ret > 0`
--   drops it (0 is a valid fd, e.g. in a daemon that closed stdin); only
--   failures (ret < 0) are left out.
-- - Every Linux family has its name (`af_name`); the original's Bfan2str
--   knows four and prints an empty name for the rest (AF_NETLINK...).
--
-- Seed bugs in the reference source (not reproduced):
-- - `@accept[comm, sa->sa_family, ...]` reads `sa`, an undeclared
--   identifier: the variable is `$sa` (bpftrace refuses the program).
-- - `Bfan2str[AF_INET] = "AF_INET";` at top level, outside any probe, is
--   not bpftrace: the book fills a map `@fam2str` in BEGIN.
-- - `@sockaddr[tid]` is deleted only when ret > 0: failed accepts leave
--   their entry behind until the next accept of that thread.
SELECT map, comm, family, af_name(family) AS family_name, count(*) AS count
FROM (
    SELECT
        CASE WHEN kind = 'connect' THEN 'connect' ELSE 'accept' END AS map,
        comm,
        CASE
            WHEN kind = 'connect' THEN coalesce(addr_family, 0)
            ELSE coalesce(addr_family, family)
        END AS family
    FROM events
    -- One pass over the capture (a UNION ALL of the two maps read it twice).
    -- The condition on `kind` alone comes first so that the reader can skip
    -- the pages of other kinds (captures group each row group's rows by
    -- kind); a condition that mixes in `ret` is no use for that.
    WHERE kind IN ('connect', 'accept', 'accept4') AND (kind = 'connect' OR ret >= 0)
)
GROUP BY map, comm, family
-- bpftrace prints maps by name, each sorted by value, smallest first.
ORDER BY map, count, comm, family
