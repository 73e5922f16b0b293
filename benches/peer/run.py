"""The peer benchmark: IPEX's documented Python recipe against ipex-tune, on
the same models, input shapes, thread layouts and host.

    make bench-peer                         # all models
    .stack/fixture-venv/bin/python benches/peer/run.py --models bert --seconds 5

For each model: the peer runs its fp32, bf16 and int8 recipes in two layouts
(1 process x all threads; N processes x 1 thread, each pinned to its core,
throughput summed: IPEX launcher's throughput mode), with jemalloc preloaded
as the launcher does; its best is the best of those. ipex-tune runs
`ipex-tune run MODEL --suite generic --input-shape ...` with its default
search (no budget given) on the same shapes. The table gives each side's
samples/s and the ratio ipex-tune / peer best; the host's ISA comes first.
Models are written (traced fp32 TorchScript, random weights) to --work.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from models import all_models  # noqa: E402

JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"


def cpus():
    return sorted(os.sched_getaffinity(0))


def peer(model, recipe, layout, seconds):
    """samples/s of one recipe in one layout ((processes, threads each))."""
    processes, threads = layout
    env = dict(os.environ, LD_PRELOAD=JEMALLOC if os.path.exists(JEMALLOC) else "",
               OMP_NUM_THREADS=str(threads), PYTHONPATH=HERE)
    with tempfile.TemporaryDirectory() as ready:
        children, outs = [], []
        for i in range(processes):
            out = os.path.join(ready, f"out-{i}.json")
            outs.append(out)
            cores = cpus()[i * threads:(i + 1) * threads]
            cmd = ["taskset", "-c", ",".join(map(str, cores)), sys.executable,
                   os.path.join(HERE, "recipe.py"), model, recipe, "--threads", str(threads),
                   "--seconds", str(seconds), "--ready-dir", ready, "--instances", str(processes),
                   "--index", str(i), "--out", out]
            children.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.PIPE, text=True))
        errors = [c.communicate()[1] for c in children]
        if any(c.returncode != 0 for c in children):
            last = [e.strip().splitlines()[-1] for e in errors if e.strip()]
            return None, last[0] if last else "failed"
        return sum(json.load(open(o))["samples_per_s"] for o in outs), None


def ipex_tune(binary, path, shapes, out, extra):
    cmd = [binary, "run", path, "--suite", "generic", "--quiet", "--output", out]
    for s in shapes:
        cmd += ["--input-shape", s]
    subprocess.run(cmd + extra, check=True)
    results = json.load(open(out))
    return results["winner"], results


def isa_line(binary):
    doctor = json.loads(subprocess.run([binary, "doctor", "--json", "--sample-ms", "100"],
                                       capture_output=True, text=True).stdout)
    host = doctor["host"]
    isa = host["isa"]
    flags = [k for k in ("avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8") if isa.get(k)]
    return f'{host["cpu"]["model_name"]}, ISA level {host["isa_level"]} ({", ".join(flags) or "no AVX-512"}), {host["limits"]["usable_cores"]} usable cores'


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", default="resnet18,bert,gpt2")
    p.add_argument("--seconds", type=float, default=5.0, help="timed seconds per peer measurement")
    p.add_argument("--work", default=os.path.join(ROOT, "reports", "bench-peer"))
    p.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "ipex-tune"))
    p.add_argument("--ipex-tune-args", default="", help="extra arguments for ipex-tune run")
    a = p.parse_args()
    os.makedirs(a.work, exist_ok=True)
    n = len(cpus())
    layouts = [(1, n)] + ([(n, 1)] if n > 1 else [])
    print(f"host: {isa_line(a.binary)}")
    rows = []
    models = all_models()
    for name in a.models.split(","):
        module, inputs, shapes = models[name]
        path = os.path.join(a.work, f"{name}.pt")
        with torch.no_grad():
            torch.jit.save(torch.jit.trace(module.eval(), inputs, strict=False), path)
        peer_results = {}
        for recipe in ("fp32", "bf16", "int8"):
            for layout in layouts:
                key = f"ipex {recipe} {layout[0]}x{layout[1]}"
                print(f"peer: {name} {key} ...", file=sys.stderr)
                peer_results[key] = peer(name, recipe, layout, a.seconds)
        ok = {k: v for k, (v, e) in peer_results.items() if v is not None}
        best_key = max(ok, key=ok.get) if ok else None
        print(f"ipex-tune: {name} ...", file=sys.stderr)
        winner, _ = ipex_tune(a.binary, path, shapes, os.path.join(a.work, f"{name}-results.json"),
                              a.ipex_tune_args.split())
        ours = winner["samples_per_s"] if winner else None
        rows.append((name, peer_results, best_key, ok.get(best_key), winner, ours))
    print()
    print("| model | peer recipes (samples/s) | peer best | ipex-tune winner | ratio |")
    print("|---|---|---|---|---|")
    for name, peer_results, best_key, best, winner, ours in rows:
        recipes = "; ".join(f"{k}: {v:.0f}" if v is not None else f"{k}: failed ({e[:60]})"
                            for k, (v, e) in peer_results.items())
        ratio = f"{ours / best:.2f}" if ours and best else "-"
        won = f'{winner["label"]}: {ours:.0f}' if winner else "none"
        print(f"| {name} | {recipes} | {best_key}: {best:.0f} | {won} | {ratio} |" if best else
              f"| {name} | {recipes} | - | {won} | {ratio} |")
    json.dump([{"model": r[0], "peer": {k: v for k, (v, _) in r[1].items()}, "peer_best": r[2],
                "peer_best_samples_per_s": r[3], "ipex_tune_winner": r[4] and r[4]["label"],
                "ipex_tune_samples_per_s": r[5]} for r in rows],
              open(os.path.join(a.work, "peer.json"), "w"), indent=2)


if __name__ == "__main__":
    main()
