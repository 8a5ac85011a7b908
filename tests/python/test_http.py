"""Partner sources on a plain web server (https:// in production): a real
HTTP server on loopback, started by the test. A feed's glob names its file;
a wildcard needs a server that lists folders (WebDAV), and without one the
source error says so."""
import functools
import http.server
import pathlib
import shutil
import threading

import pytest

from conftest import REPO, Workspace, ledger, one_partner_config


@pytest.fixture()
def web(tmp_path):
    root = tmp_path / "site"
    (root / "exports").mkdir(parents=True)
    shutil.copy(REPO / "tests/corpus/files/ok_mixed.csv", root / "exports/students.csv")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root / "exports", server.server_address[1]
    server.shutdown()


def workspace(tmp_path, port, glob):
    ws = Workspace(tmp_path)
    ws.config.write_text(one_partner_config(f"http://127.0.0.1:{port}/exports", 'allow_http = "true"', glob))
    return ws


def test_a_named_file_on_a_web_server_is_pulled_versioned_and_reported_when_it_vanishes(tmp_path, web):
    folder, port = web
    ws = workspace(tmp_path, port, "students.csv")
    ws.braid("pull")
    rows = ledger(ws)
    assert len(rows) == 1
    assert rows[0]["url"] == f"http://127.0.0.1:{port}/exports/students.csv"
    # ok_mixed.csv: 6 rows, 3 loaded, 3 quarantined (tests/corpus/expected.toml).
    assert (rows[0]["status"], rows[0]["rows_read"], rows[0]["rows_loaded"], rows[0]["rows_quarantined"]) == ("loaded", 6, 3, 3)

    # Unchanged: nothing is read again.
    out = ws.braid("pull").stdout
    assert "unchanged" in out, out
    assert len(ledger(ws)) == 1

    # A new version supersedes the old one.
    (folder / "students.csv").write_text("ID,First,Last,DOB,Start,End\n1,Ana,Ruiz,03/24/1990,09/01/2024,\n")
    ws.braid("pull")
    assert [(r["status"], r["rows_loaded"]) for r in ledger(ws)] == [("superseded", 3), ("loaded", 1)]

    # Gone from the server: reported, its rows kept.
    (folder / "students.csv").unlink()
    out = ws.braid("pull").stdout
    assert "vanished" in out, out
    assert ledger(ws)[-1]["status"] == "vanished"


def test_a_wildcard_on_a_server_that_lists_no_folders_is_a_source_error_that_says_what_to_do(tmp_path, web):
    _, port = web
    ws = workspace(tmp_path, port, "students_*.csv")
    p = ws.braid("pull", check=False)
    assert p.returncode == 5, (p.stdout, p.stderr)
    assert "SOURCE ERROR" in p.stdout and "without wildcards" in p.stdout, p.stdout
