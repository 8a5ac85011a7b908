"""Shared fixtures: the braid binary and a workspace with a small consortium."""
import json
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
SECRET = "python-test secret, 32 bytes or more, not real"


def braid_bin() -> str:
    b = os.environ.get("BRAID_BIN") or str(REPO / "target" / "debug" / "braid")
    if not pathlib.Path(b).exists():
        pytest.fail(f"braid binary not found at {b}; run `cargo build` (make test does)")
    return b


class Workspace:
    def __init__(self, path: pathlib.Path):
        self.path = path
        self.config = path / "consortium.toml"

    def braid(self, *args, check=True, env=None):
        e = dict(os.environ, BRAID_SECRET=SECRET)
        e.pop("BRAID_SECRET_FILE", None)
        e.pop("BRAID_CONFIG", None)
        e.update(env or {})
        p = subprocess.run([braid_bin(), "--config", str(self.config), *args], cwd=self.path, env=e,
                           capture_output=True, text=True)
        if check and p.returncode != 0:
            raise AssertionError(f"braid {args} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def sql(self, query):
        out = self.braid("sql", query, "--format", "json").stdout
        return json.loads(out)


ONE_PARTNER = """
consortium = "One-partner test"

[warehouse]
path = "var/warehouse"

[publish]
path = "var/publish"

[privacy]
rho_per_release = 1.0
rho_annual_cap = 4.0
rho_lifetime_cap = 16.0

[metrics]
sql_dir = "{sql}"

[[partner]]
id = "web"
name = "Web partner"
kind = "community_org"
source = "{source}"
source_options = {{ {options} }}

[[partner.feed]]
name = "students"
glob = "{glob}"
[partner.feed.map]
date_formats = ["%m/%d/%Y"]
required = ["record_id", "dob"]
[partner.feed.map.columns]
record_id = "ID"
given_name = "First"
family_name = "Last"
dob = "DOB"
entry_date = "Start"
exit_date = "End"
"""


def one_partner_config(source: str, options: str, glob: str) -> str:
    """A consortium of one partner whose files are mapped like
    tests/corpus/files/ok_mixed.csv (6 rows: 3 loaded, 3 quarantined)."""
    return ONE_PARTNER.format(sql=REPO / "sql", source=source, options=options, glob=glob)


def ledger(ws, env=None):
    """The ingest ledger, oldest first (committed with the warehouse)."""
    ws.braid("link", env=env)
    return ws.sql("SELECT url, status, rows_read, rows_loaded, rows_quarantined FROM ingest_ledger ORDER BY ingested_at")


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for_port(port: int, proc: subprocess.Popen, what: str, seconds: float = 30):
    """Wait until a server started as `proc` listens on `port`."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail(f"{what} did not start")


def stop(proc: subprocess.Popen):
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def demo_config(sql_dir: pathlib.Path) -> str:
    text = (REPO / "config" / "demo.toml").read_text()
    return text.replace("[schedule]", f'[metrics]\nsql_dir = "{sql_dir}"\n\n[schedule]')


@pytest.fixture(scope="session")
def small_warehouse():
    d = pathlib.Path(tempfile.mkdtemp(prefix="braid-py-"))
    subprocess.run([braid_bin(), "demo", "--out", "var/demo", "--people", "400"], cwd=d, check=True,
                   capture_output=True)
    ws = Workspace(d)
    ws.config.write_text(demo_config(REPO / "sql"))
    ws.braid("run", "--no-publish")
    yield ws
    shutil.rmtree(d, ignore_errors=True)
