"""Times sockrec's reports as DuckDB SQL on a capture: the reference that
`cargo xtask bench query` compares `sockrec query` with.

    python3 bench/duckdb/run.py CAPTURE RUNS REPORT...

Each REPORT is queries/REPORT.sql, the very SQL `sockrec query REPORT`
runs, with the few dialect differences in TRANSLATIONS replaced. It reads
the view `events` (= read_parquet(CAPTURE)), the table name sockrec's SQL
uses. sockrec's naming functions (af_name, proto_name, proto_short,
errno_name, errno_message) become DuckDB macros built from the same tables,
read from analyzer/src/names.rs so the two never drift apart; each is a
list lookup, as cheap as sockrec's.

Like `sockrec query REPORT --format csv > /dev/null`, the whole result is
written as CSV to /dev/null. Each report runs once untimed (page cache,
DuckDB's metadata cache: sockrec's side gets the same warm-up), then RUNS
timed times; prints `REPORT MEDIAN_SECONDS` per report. Python's start and
DuckDB's import are outside the timing.
"""

import pathlib
import re
import statistics
import sys
import time

import duckdb

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NAMES_RS = ROOT / "analyzer" / "src" / "names.rs"
QUERIES = ROOT / "queries"

# Where DuckDB's SQL differs from DataFusion's, per report: (sockrec's text,
# DuckDB's). A text that is no longer in the report stops the benchmark, so
# the two never drift apart silently.
TRANSLATIONS = {
    # `/` on integers is integer division in DataFusion, float in DuckDB.
    "soconnect": [("CAST(latency_ns AS BIGINT) / 1000", "CAST(latency_ns AS BIGINT) // 1000")],
}


def report_sql(name):
    sql = (QUERIES / f"{name}.sql").read_text().strip().rstrip(";")
    for ours, theirs in TRANSLATIONS.get(name, []):
        if ours not in sql:
            raise SystemExit(f"run.py: {name}.sql no longer has {ours!r}: update TRANSLATIONS")
        sql = sql.replace(ours, theirs)
    return sql


def sql_str(s):
    return "NULL" if s is None else "'" + s.replace("'", "''") + "'"


def sql_list(values):
    """A 1-based DuckDB list literal."""
    return "[" + ", ".join(sql_str(v) for v in values) + "]"


def by_number(entries, column):
    """A list where entry n (1-based: n + 1 for numbers from 0) is the name."""
    top = max(n for n, *_ in entries)
    table = [None] * (top + 1)
    for n, *names in entries:
        table[n] = names[column]
    return table, top


def macros(con):
    rs = NAMES_RS.read_text()

    def block(name):
        m = re.search(r"const " + name + r"\b[^=]*=\s*&?\[(.*?)\n\];", rs, re.S)
        if not m:
            raise SystemExit(f"run.py: no {name} table in {NAMES_RS}")
        return m.group(1)

    families = re.findall(r'"([^"]*)"', block("ADDRESS_FAMILIES"))
    tuple_re = r'\(\s*(\d+),\s*"([^"]*)",\s*"((?:[^"\\]|\\.)*)",?\s*\)'
    protocols = [(int(n), a, b) for n, a, b in re.findall(tuple_re, block("IP_PROTOCOLS"))]
    errnos = [(int(n), a, b) for n, a, b in re.findall(tuple_re, block("ERRNOS"))]
    if len(families) < 40 or len(protocols) < 20 or len(errnos) < 100:
        raise SystemExit(f"run.py: could not read the name tables of {NAMES_RS}")

    nf = len(families) - 1
    proto_names, np_ = by_number(protocols, 0)
    proto_shorts, _ = by_number(protocols, 1)
    errno_names, ne = by_number(errnos, 0)
    errno_messages, _ = by_number(errnos, 1)
    con.execute(f"""
        CREATE MACRO af_name(f) AS
            CASE WHEN f BETWEEN 0 AND {nf} THEN {sql_list(families)}[f + 1] END;
        CREATE MACRO proto_name(p) AS
            CASE WHEN p BETWEEN 0 AND {np_} THEN {sql_list(proto_names)}[p + 1] END;
        CREATE MACRO proto_short(f, p) AS
            CASE WHEN f IS NULL OR f IN (2, 10)
                THEN CASE WHEN p BETWEEN 0 AND {np_} THEN {sql_list(proto_shorts)}[p + 1] END
                ELSE af_name(f)[4:]
            END;
        CREATE MACRO errno_name(e) AS
            CASE WHEN e BETWEEN 0 AND {ne} THEN {sql_list(errno_names)}[e + 1] END;
        CREATE MACRO errno_message(e) AS
            CASE WHEN e = 0 THEN 'Success'
                 ELSE coalesce(
                     CASE WHEN e BETWEEN 0 AND {ne} THEN {sql_list(errno_messages)}[e + 1] END,
                     'Unknown error ' || e)
            END;
    """)


def main():
    capture, runs, reports = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    con = duckdb.connect()
    macros(con)
    path = capture.replace("'", "''")
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{path}')")
    for name in reports:
        sql = report_sql(name)
        copy = f"COPY ({sql}) TO '/dev/null' (FORMAT csv, HEADER)"
        times = []
        for i in range(runs + 1):
            t = time.perf_counter()
            con.execute(copy)
            if i > 0:
                times.append(time.perf_counter() - t)
        print(name, statistics.median(times), flush=True)


if __name__ == "__main__":
    main()
