"""Partner sources on Azure Blob Storage: a real Azure-compatible server
(Azurite, from npm; the Makefile installs it and passes AZURITE_BIN) on
loopback, started by the test. The account key comes from the environment,
per partner, never from the configuration."""
import os
import subprocess
import time

import pytest
from azure.storage.blob import BlobServiceClient

from conftest import REPO, Workspace, free_port, ledger, one_partner_config, stop, wait_for_port

# Azurite's public, documented development account (not a secret).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    binary = os.environ.get("AZURITE_BIN")
    if not binary or not os.path.exists(binary):
        pytest.fail("AZURITE_BIN is not set to azurite-blob; run the tests with `make test`, which installs it")
    port = free_port()
    proc = subprocess.Popen([binary, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--silent", "--skipApiVersionCheck",
                             "--location", str(tmp_path_factory.mktemp("azurite"))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc, "azurite")
    endpoint = f"http://127.0.0.1:{port}/{ACCOUNT}"
    client = BlobServiceClient.from_connection_string(
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};BlobEndpoint={endpoint};")
    yield endpoint, client
    stop(proc)


def test_files_on_azure_are_pulled_with_the_partners_own_key_versioned_and_reported_when_they_vanish(tmp_path, azurite):
    endpoint, client = azurite
    container = client.create_container(f"partner-drop-{int(time.time() * 1000) % 10**9}")
    body = (REPO / "tests/corpus/files/ok_mixed.csv").read_bytes()
    container.upload_blob("exports/students_2026-06.csv", body)
    container.upload_blob("exports/readme.txt", b"not a partner extract")
    ws = Workspace(tmp_path)
    ws.config.write_text(one_partner_config(
        f"az://{container.container_name}/exports",
        f'azure_storage_endpoint = "{endpoint}", azure_storage_account_name = "{ACCOUNT}", allow_http = "true"',
        "students_*.csv"))
    assert ACCOUNT_KEY not in ws.config.read_text()
    env = {"BRAID_WEB_AZURE_STORAGE_ACCOUNT_KEY": ACCOUNT_KEY}

    # Without the partner's key the source is a named error, and nothing loads.
    p = ws.braid("pull", check=False)
    assert p.returncode == 5 and "SOURCE ERROR" in p.stdout, (p.stdout, p.stderr)

    ws.braid("pull", env=env)
    rows = ledger(ws, env)
    assert [(r["url"], r["status"], r["rows_read"], r["rows_loaded"], r["rows_quarantined"]) for r in rows] == [
        (f"az://{container.container_name}/exports/students_2026-06.csv", "loaded", 6, 3, 3)]

    out = ws.braid("pull", env=env).stdout
    assert "unchanged" in out, out

    container.upload_blob("exports/students_2026-06.csv", b"ID,First,Last,DOB,Start,End\n1,Ana,Ruiz,03/24/1990,09/01/2024,\n",
                          overwrite=True)
    ws.braid("pull", env=env)
    assert [(r["status"], r["rows_loaded"]) for r in ledger(ws, env)] == [("superseded", 3), ("loaded", 1)]

    container.delete_blob("exports/students_2026-06.csv")
    out = ws.braid("pull", env=env).stdout
    assert "vanished" in out, out
    assert ledger(ws, env)[-1]["status"] == "vanished"
