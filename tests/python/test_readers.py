"""A second, independent reader: the warehouse written by braid, read back
with the `deltalake` Python package and pyarrow, gives the same row counts
and the same checksums over key columns that braid's own SQL computes."""
import pyarrow.compute as pc
from deltalake import DeltaTable

TABLES = ["person", "participation", "service", "referral", "assessment", "credential", "employment",
          "milestone", "link", "person_key_history", "ingest_ledger", "quarantine"]


def table(ws, name):
    return DeltaTable(str(ws.path / "var" / "warehouse" / "analytics" / name)).to_pyarrow_table()


def test_row_counts_match_for_every_table(small_warehouse):
    ws = small_warehouse
    for name in TABLES:
        ours = ws.sql(f"SELECT count(*) AS n FROM {name}")[0]["n"]
        theirs = table(ws, name).num_rows
        assert ours == theirs, f"{name}: braid {ours} rows, pyarrow {theirs}"
    assert table(ws, "person").num_rows > 0
    assert table(ws, "employment").num_rows > 0


def test_checksums_over_key_columns_match(small_warehouse):
    ws = small_warehouse
    emp = table(ws, "employment")
    ours = ws.sql("SELECT count(DISTINCT person_key) AS people, sum(wages_cents) AS wages, "
                  "min(person_key) AS lo, max(person_key) AS hi, count(DISTINCT year_quarter) AS quarters "
                  "FROM employment")[0]
    assert ours["people"] == len(pc.unique(emp["person_key"]))
    assert ours["wages"] == pc.sum(emp["wages_cents"]).as_py()
    assert ours["lo"] == pc.min(emp["person_key"]).as_py()
    assert ours["hi"] == pc.max(emp["person_key"]).as_py()
    assert ours["quarters"] == len(pc.unique(emp["year_quarter"]))

    person = table(ws, "person")
    ours = ws.sql("SELECT count(*) AS n, sum(birth_year) AS years, sum(record_count) AS records FROM person")[0]
    assert ours["n"] == person.num_rows
    assert ours["years"] == pc.sum(person["birth_year"]).as_py()
    assert ours["records"] == pc.sum(person["record_count"]).as_py()


def test_link_agrees_with_person(small_warehouse):
    ws = small_warehouse
    link = table(ws, "link")
    person = table(ws, "person")
    linked = set(k for k in link["person_key"].to_pylist() if k is not None)
    assert linked == set(person["person_key"].to_pylist())
