"""Time and peak memory of `ipex-tune plan` on every recorded host.

    make bench-plan            # or: python3 benches/plan_hosts.py [--binary B] [--model M --suite S]

The recorded hosts (tests/fixtures/hosts/*.json: host facts, as `plan
--host-facts` takes them) include a 2-socket 56-core Sapphire Rapids with
SNC off and SNC2, a 4-socket 240-core host with SMT and an 8-core VM. Each
plan runs in its own process; its wall time and peak RSS (wait4's
ru_maxrss) are printed with the candidate count and the layouts
(threads x streams x instances). Target: under 1 s and 200 MB on the
240-core host.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "ipex-tune"))
    p.add_argument("--model", default=os.path.join(ROOT, "tests", "fixtures", "cnn.pt"))
    p.add_argument("--suite", default="cv")
    a = p.parse_args()
    rows = []
    for host in sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "hosts", "*.json"))):
        with tempfile.TemporaryFile() as out:
            start = time.perf_counter()
            child = subprocess.Popen([a.binary, "plan", a.model, "--suite", a.suite, "--json",
                                      "--host-facts", host], stdout=out, stderr=subprocess.PIPE)
            _, status, usage = os.wait4(child.pid, 0)
            wall = time.perf_counter() - start
            if status != 0:
                sys.exit(f"plan failed on {host}: {child.stderr.read().decode().strip()}")
            out.seek(0)
            plan = json.load(out)["plan"]
        layouts = sorted({(c["config"]["threads"], c["config"]["streams"], c["config"]["instances"])
                          for c in plan["candidates"]})
        rows.append((os.path.basename(host)[:-5], wall, usage.ru_maxrss / 1024, len(plan["candidates"]),
                     " ".join(f"{t}x{s}x{i}" for t, s, i in layouts)))
    print("| host | wall s | peak RSS MiB | candidates | layouts (threads x streams x instances) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.2f} | {r[2]:.0f} | {r[3]} | {r[4]} |")
    print("Target: under 1 s and 200 MB on the 240-core host (xeon-4s240c-smt).")


if __name__ == "__main__":
    main()
