"""Parity: one IPEX Python recipe and ipex-tune's config of the same recipe,
measured in turn on the same model, inputs, layout and host.

    .stack/fixture-venv/bin/python benches/peer/parity.py --recipe bf16 \
        --config ipex/O1+fold+prepack/bf16-autocast/t1/i2/jemalloc \
        [--models bert,vit] [--layout 2x1] [--rounds 3] [--seconds 4] [--work DIR]

Each round measures the recipe (recipe.py, in --layout: processes x threads,
each process pinned, jemalloc preloaded, as run.py's peer) and then
`ipex-tune run FILE --config CONFIG` (its allocator and layout come from the
label: keep them the recipe's for a like-for-like figure); the ratio is
ipex-tune's median over the recipe's. Alternating the two puts the host's
drift on both sides. This is how the issue's "at parity with IPEX's Python
recipe" is measured: run.py's parity figures come from the search, one
measurement each, minutes apart.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import models  # noqa: E402
import run  # noqa: E402
from recipe import RECIPES  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipe", choices=RECIPES, required=True)
    p.add_argument("--config", required=True, help="the ipex-tune config label of the same recipe")
    p.add_argument("--models", default=",".join(models.MODELS))
    p.add_argument("--layout", default="2x1", help="PROCESSESxTHREADS of the recipe")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--work", default=os.path.join(run.ROOT, "reports", "bench-peer"))
    p.add_argument("--binary", default=os.path.join(run.ROOT, "target", "release", "ipex-tune"))
    a = p.parse_args()
    try:
        layout = tuple(int(n) for n in a.layout.split("x"))
        if len(layout) != 2 or min(layout) < 1:
            raise ValueError
    except ValueError:
        raise SystemExit(f"--layout {a.layout}: expected PROCESSESxTHREADS, e.g. 2x1")
    if not os.path.exists(a.binary):
        raise SystemExit(f"{a.binary} not found: `make build` first")
    os.makedirs(a.work, exist_ok=True)
    print(f"host: {run.isa_line(a.binary)}", flush=True)
    print(f"| model | {a.recipe} {a.layout} in Python (samples/s) | {a.config} | ratio |")
    print("|---|---|---|---|")
    for name, shapes in models.entries([m for m in a.models.split(",") if m]):
        path, error = run.write_model(name, shapes, a.work)
        if error:
            print(f"| {models.label(name, shapes)} | {error} | - | - |", flush=True)
            continue
        peers, tuned, errors = [], [], []
        for _ in range(a.rounds):
            r = run.peer(name, shapes, a.recipe, layout, a.seconds)
            if "samples_per_s" in r:
                peers.append(r["samples_per_s"])
            else:
                errors.append(r.get("error", "failed"))
            t = run.tuned_again(a.binary, path, shapes, a.config, a.seconds, a.work)
            if t is not None:
                tuned.append(t)
            else:
                errors.append("ipex-tune run --config failed")
        cells = [" ".join(f"{x:.1f}" for x in xs) or "failed" for xs in (peers, tuned)]
        ratio = f"{run.median(tuned) / run.median(peers):.3f}" if peers and tuned else run.one_line("; ".join(errors), 120)
        print(f"| {models.label(name, shapes)} | {cells[0]} | {cells[1]} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
