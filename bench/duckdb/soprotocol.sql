-- soprotocol, in DuckDB: queries/soprotocol.sql (what `sockrec query
-- soprotocol` runs), unchanged but for the comments; `proto_name` and
-- `proto_short` are macros from run.py standing in for sockrec's SQL
-- functions.
SELECT
    map,
    comm,
    protocol,
    proto_name(protocol) AS protocol_name,
    proto_short(family, protocol) AS protocol_short,
    count(*) AS count
FROM (
    SELECT CASE kind WHEN 'connect' THEN 'connect' ELSE 'accept' END AS map, comm, family, protocol
    FROM events
    WHERE kind IN ('accept', 'accept4', 'connect')
)
GROUP BY map, comm, family, protocol
ORDER BY map, count, comm, protocol, protocol_short;
