#!/usr/bin/env python3
"""braid benchmarks. Writes BENCHMARKS.md.

    make bench                      # every section (needs a release build)
    make bench BENCH="demo"         # one or more sections

Each section runs the release binary (BRAID_BIN) on generated data in a
scratch folder (bench/var, git-ignored), measures wall time and peak memory
of each command, and writes its table. Sections that did not run keep their
previous text in BENCHMARKS.md.
"""
import datetime
import json
import os
import pathlib
import platform
import re
import shutil
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
OUT = REPO / "BENCHMARKS.md"
SCRATCH = REPO / "bench" / "var"
SECRET = "benchmark secret, 32 bytes or more, not a real key"
BRAID = os.environ.get("BRAID_BIN", str(REPO / "target" / "release" / "braid"))


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(open("/proc/meminfo").readline().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB memory"
    except (OSError, ValueError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){mem}, {platform.system()} {platform.release()}"


def measure(cmd, cwd, env=None):
    """Run cmd; return (seconds, peak RSS in MiB, stdout). Peak RSS is the
    child's own maximum, read by a wrapper process."""
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "t = time.monotonic()\n"
        "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
        "dt = time.monotonic() - t\n"
        "sys.stdout.buffer.write(p.stdout)\n"
        "sys.stderr.buffer.write(p.stderr)\n"
        "print('\\n@@BENCH', dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode)\n"
    )
    e = dict(os.environ, BRAID_SECRET=SECRET)
    e.update(env or {})
    p = subprocess.run([sys.executable, "-c", wrapper, *cmd], cwd=cwd, env=e, capture_output=True, text=True)
    m = re.search(r"@@BENCH (\S+) (\S+) (\S+)", p.stdout)
    if not m:
        raise SystemExit(f"benchmark command failed to report: {cmd}\n{p.stdout}\n{p.stderr}")
    secs, rss_kb, code = float(m.group(1)), int(m.group(2)), int(m.group(3))
    if code not in (0, 5):
        raise SystemExit(f"{cmd} exited {code}\n{p.stdout}\n{p.stderr}")
    return secs, rss_kb / 1024, p.stdout[: m.start()]


def demo_config(root: pathlib.Path) -> pathlib.Path:
    text = (REPO / "config" / "demo.toml").read_text()
    text = text.replace("[schedule]", f'[metrics]\nsql_dir = "{REPO / "sql"}"\n\n[schedule]')
    cfg = root / "consortium.toml"
    cfg.write_text(text)
    return cfg


def section_demo():
    """Per-stage timing of one nightly run on the demo consortium."""
    root = SCRATCH / "demo"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    cfg = demo_config(root)
    gen, _, _ = measure([BRAID, "demo", "--out", "var/demo"], root)
    first, rss, out = measure([BRAID, "--config", str(cfg), "run", "--as-of", "2026-11-15"], root)
    stages = re.search(r"Timings: (.*)", out).group(1)
    again, rss2, out2 = measure([BRAID, "--config", str(cfg), "run", "--as-of", "2026-11-15"], root)
    ev = json.loads(measure([BRAID, "--config", str(cfg), "link", "evaluate", "--truth", "var/demo/truth.csv", "--json"], root)[2])
    rows = ["| stage | seconds |", "|---|---|"]
    for part in stages.split(", "):
        name, secs = part.rsplit(" ", 1)
        rows.append(f"| {name} | {secs.rstrip('s')} |")
    return f"""## Nightly job on the demo consortium

`braid demo` then `braid run --as-of 2026-11-15` on the 20,000-person demo
consortium (130,000 rows in 17 files from 5 partners), release build.

| measurement | value |
|---|---|
| generate the demo | {gen:.1f} s |
| first nightly run (ingest, link, load, publish) | {first:.1f} s, peak memory {rss:.0f} MiB |
| second run, inputs unchanged (nothing reloaded, release re-served) | {again:.2f} s, peak memory {rss2:.0f} MiB |
| linkage on the demo: pairwise precision / recall / F1 | {ev['pairwise']['precision']:.4f} / {ev['pairwise']['recall']:.4f} / {ev['pairwise']['f1']:.4f} |
| blocking recall | {ev['blocking_recall']:.4f} ({ev['candidate_pairs']} candidate pairs) |

Stages of the first run, as `braid run` reports them:

{chr(10).join(rows)}
"""


SECTIONS = {
    "demo": section_demo,
}


def main():
    wanted = sys.argv[1:] or os.environ.get("BENCH", "").split() or list(SECTIONS)
    if not pathlib.Path(BRAID).exists():
        raise SystemExit(f"{BRAID} not found: run `cargo build --release` (make bench does)")
    old = OUT.read_text() if OUT.exists() else ""
    parts = {}
    for m in re.finditer(r"<!-- section:(\w+) -->\n(.*?)<!-- end:\1 -->", old, re.S):
        parts[m.group(1)] = m.group(2)
    for name in wanted:
        print(f"== {name}", flush=True)
        t = time.monotonic()
        text = SECTIONS[name]()
        title, rest = text.split("\n", 1)
        parts[name] = (f"{title}\n\nMeasured {datetime.date.today().isoformat()} on {machine()} with "
                       f"`make bench BENCH={name}`.\n{rest}")
        print(f"   {time.monotonic() - t:.0f} s", flush=True)
    head = f"""# Benchmarks

Produced by `make bench` (bench/run.py), which builds the release binary and
runs each section below; `make bench BENCH="name ..."` runs some of them.
Each section says when and on what machine it was measured. Figures are
from one run each; re-run to reproduce them. Speed and memory goals are
tracked here, not in tests.

"""
    body = "".join(f"<!-- section:{n} -->\n{parts[n]}<!-- end:{n} -->\n\n" for n in SECTIONS if n in parts)
    OUT.write_text(head + body)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
