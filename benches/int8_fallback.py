"""The accuracy-aware int8 fallback on a model plain int8 breaks.

    make bench-int8-fallback     # or: .stack/fixture-venv/bin/python benches/int8_fallback.py [--width N]

Writes the outlier MLP of tests/fixtures (four channels of fc2's output
~300x the rest), at a width where int8 pays (default 1024 features, batch
64), runs `ipex-tune run MODEL --suite generic --input-shape 64xW` with the
default search, and prints: the host's ISA, each int8 fallback (the layers'
sensitivity ranking, what was tried, what stayed fp32), the best accurate
fp32 trial, the best accurate mixed int8/fp32 trial, and their ratio
(samples/s, measured in the same run).
"""
import argparse
import json
import os
import subprocess
import sys

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures"))
sys.path.insert(0, os.path.join(ROOT, "benches", "peer"))
from generate import OutlierMlp  # noqa: E402
from run import isa_line  # noqa: E402


def best(trials, accept):
    ok = [t for t in trials if t["status"] == "ok" and t.get("accurate") and accept(t)]
    return max(ok, key=lambda t: t["stats"]["samples_per_s"], default=None)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--work", default=os.path.join(ROOT, "reports", "bench-int8-fallback"))
    p.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "ipex-tune"))
    a = p.parse_args()
    os.makedirs(a.work, exist_ok=True)
    torch.manual_seed(0)
    model = OutlierMlp(features=a.width, width=a.width).eval()
    path = os.path.join(a.work, f"outlier_mlp_{a.width}.pt")
    with torch.no_grad():
        torch.jit.save(torch.jit.trace(model, (torch.randn(a.batch, a.width),)), path)
    out = os.path.join(a.work, f"outlier_mlp_{a.width}-results.json")
    subprocess.run([a.binary, "run", path, "--suite", "generic", "--input-shape",
                    f"{a.batch}x{a.width}", "--quiet", "--output", out], check=True)
    results = json.load(open(out))
    print(f"host: {isa_line(a.binary)}")
    for f in results.get("int8_fallbacks", []):
        ranking = ", ".join(
            f'{l["layer"]} (alone cos {l["alone"]["cosine"]:.4f}, kept fp32 cos {l["kept_fp32"]["cosine"]:.4f})'
            if l.get("alone") and l.get("kept_fp32") else f'{l["layer"]} (failed)'
            for l in f["sensitivity"])
        print(f'fallback for {f["config"]}: ranking {ranking}; tried {len(f["tried"])}; '
              f'kept in fp32: {", ".join(f["kept_fp32"]) if f["kept_fp32"] else "none accurate"}')
    trials = results["trials"]
    fp32 = best(trials, lambda t: t["config"]["dtype"] == "fp32")
    mixed = best(trials, lambda t: t["config"].get("fp32_layers"))
    plain = [t for t in trials if t["config"]["dtype"].startswith("int8") and not t["config"].get("fp32_layers")]
    for t in plain:
        verdict = "accurate" if t.get("accurate") else f'inaccurate ({t.get("accuracy_problem")})'
        rate = t["stats"]["samples_per_s"] if t.get("stats") else 0
        print(f'plain int8: {t["label"]}: {rate:.0f} samples/s, {verdict}')
    for name, t in (("best fp32", fp32), ("best int8 with fp32 layers", mixed)):
        print(f'{name}: {t["label"]}: {t["stats"]["samples_per_s"]:.0f} samples/s' if t else f"{name}: none")
    if fp32 and mixed:
        print(f'ratio int8-with-fallback / fp32: {mixed["stats"]["samples_per_s"] / fp32["stats"]["samples_per_s"]:.2f}')
    print(f'winner: {results["winner"]["label"] if results.get("winner") else "none"}')


if __name__ == "__main__":
    main()
