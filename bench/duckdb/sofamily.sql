-- sofamily, in DuckDB: queries/sofamily.sql (what `sockrec query sofamily`
-- runs), unchanged but for the comments; `af_name` is a macro from
-- run.py standing in for sockrec's SQL function.
SELECT map, comm, family, af_name(family) AS family_name, count(*) AS count
FROM (
    SELECT 'connect' AS map, comm, coalesce(addr_family, 0) AS family
    FROM events
    WHERE kind = 'connect'
    UNION ALL
    SELECT 'accept' AS map, comm, coalesce(addr_family, family) AS family
    FROM events
    WHERE kind IN ('accept', 'accept4') AND ret >= 0
)
GROUP BY map, comm, family
ORDER BY map, count, comm, family;
