"""Partner sources on S3: a real S3-compatible server (moto) on loopback,
started by the test, with credentials passed per partner in the environment."""
import pathlib
import subprocess
import sys
import time

import boto3
import pytest

from conftest import REPO, Workspace, braid_bin, demo_config, free_port, stop, wait_for_port


@pytest.fixture(scope="module")
def s3():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_for_port(port, proc, "moto server")
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id="braid-test", aws_secret_access_key="braid-test-secret")
    yield url, client
    stop(proc)


@pytest.fixture()
def workspace(tmp_path, s3):
    url, client = s3
    subprocess.run([braid_bin(), "demo", "--out", "var/demo", "--people", "150"], cwd=tmp_path, check=True,
                   capture_output=True)
    bucket = f"partner-drop-{int(time.time() * 1000) % 10**9}"
    client.create_bucket(Bucket=bucket)
    for f in (tmp_path / "var/demo/inputs/adult_school").iterdir():
        client.upload_file(str(f), bucket, f"exports/adult/{f.name}")
    text = demo_config(REPO / "sql").replace(
        'source = "var/demo/inputs/adult_school"',
        f'source = "s3://{bucket}/exports/adult"\n'
        f'source_options = {{ aws_endpoint = "{url}", aws_allow_http = "true", aws_region = "us-east-1" }}',
    )
    ws = Workspace(tmp_path)
    ws.config.write_text(text)
    env = {"BRAID_ADULT_SCHOOL_AWS_ACCESS_KEY_ID": "braid-test",
           "BRAID_ADULT_SCHOOL_AWS_SECRET_ACCESS_KEY": "braid-test-secret"}
    return ws, client, bucket, env


def ledger(ws, env):
    ws.braid("link", env=env)
    return ws.sql("SELECT url, status, rows_read, rows_loaded, rows_quarantined FROM ingest_ledger "
                  "WHERE partner = 'adult_school' ORDER BY url, ingested_at")


def test_files_on_s3_are_pulled_versioned_and_reported_when_they_vanish(workspace):
    ws, client, bucket, env = workspace
    p = ws.braid("pull", "--partner", "adult_school", env=env)
    assert "loaded" in p.stdout
    rows = ledger(ws, env)
    assert len(rows) == 3
    assert all(r["url"].startswith(f"s3://{bucket}/exports/adult/") for r in rows)
    assert all(r["status"] == "loaded" and r["rows_read"] == r["rows_loaded"] + r["rows_quarantined"] for r in rows)

    # Unchanged objects are skipped.
    again = ws.braid("pull", "--partner", "adult_school", env=env)
    assert again.stdout.count("unchanged") == 3

    # A changed object is a new version that supersedes the old one.
    key = "exports/adult/enrollments_2026-06-30.csv"
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    client.put_object(Bucket=bucket, Key=key, Body=body + b"AS100003,ABE,02/02/2026,,10.0\r\n")
    ws.braid("pull", "--partner", "adult_school", env=env)
    rows = [r for r in ledger(ws, env) if r["url"].endswith("enrollments_2026-06-30.csv")]
    assert [r["status"] for r in rows] == ["superseded", "loaded"]
    assert rows[1]["rows_read"] == rows[0]["rows_read"] + 1

    # A vanished object is reported, not silently kept or dropped.
    client.delete_object(Bucket=bucket, Key="exports/adult/assessments_2026-06-30.csv")
    out = ws.braid("pull", "--partner", "adult_school", env=env)
    assert "vanished" in out.stdout
    rows = [r for r in ledger(ws, env) if r["url"].endswith("assessments_2026-06-30.csv")]
    assert rows[-1]["status"] == "vanished"


def test_an_unreachable_bucket_is_a_named_source_error_and_other_partners_still_load(workspace):
    ws, client, bucket, env = workspace
    ws.config.write_text(ws.config.read_text().replace(f"s3://{bucket}/", "s3://no-such-bucket/"))
    p = ws.braid("run", "--no-publish", check=False, env=env)
    assert p.returncode == 5, p.stderr
    assert "SOURCE ERROR" in p.stdout and "no-such-bucket" in p.stdout
    loaded = ws.sql("SELECT DISTINCT partner FROM ingest_ledger WHERE status = 'loaded' ORDER BY partner")
    assert [r["partner"] for r in loaded] == ["community_college", "refugee_agency", "wage_records", "workforce_board"]
