"""The peer benchmark: the expert's documented recipes against ipex-tune, on
the same models, input tensors, thread layouts and host.

    make bench-peer                         # every model, its default shape
    .stack/fixture-venv/bin/python benches/peer/run.py [--models bert,gpt2] [--shapes default|all]
        [--seconds 5] [--budget 5m] [--rematch 5] [--ipex-tune-args "..."] [--peer-only]

Models (benches/peer/models.py): torchvision resnet18, mobilenet_v3_small
(scripted), efficientnet_b0, convnext_tiny; HF BERT and DistilBERT encoders,
a GPT-2 decoder, a ViT; random seeded weights, each at a serving shape
(batch 1 to 8, 32 to 128 tokens); `--shapes all` adds a second shape per
model. Each (model, shape) is written as the TorchScript file its users ship
(traced, or scripted) to --work, and loaded back with torch.jit.load.

The peer (recipe.py) runs its recipes, jit (trace/script + freeze, no IPEX)
and IPEX's fp32, bf16 and int8, in two layouts (1 process x all threads; N
processes x 1 thread, each pinned to its core, throughput summed: IPEX
launcher's throughput mode), with jemalloc preloaded as the launcher does.
The second, upstream peer: torch.compile(mode="max-autotune") with
Inductor's freezing, fp32 and under bf16 autocast (recipe.py compile,
compile-bf16), in the same layouts; its best accurate figure gets its own
column and ratio (the search's figure over it), and is never IPEX's bar.
Each recipe's outputs are checked against the eager fp32 module's with the
tolerances of ipex-tune's generic suite; the bar is the best ACCURATE recipe
(inaccurate ones are listed, never the bar). ipex-tune runs
`ipex-tune run FILE --suite generic --input-shape ... --budget 5m` on the
same shapes, which generate the same tensors. Then the rematch: the best accurate
recipe and ipex-tune's winner (`run --config WINNER`) measured in turn,
--rematch rounds each, and the ratio is that of their medians (the search's
own figure is the best of many noisy trials, taken minutes after the
peer's; it is shown as the search ratio). Beside it, each round's own
ratio (tuned over the peer measured just before): their median and range,
min..max, which holds the median of such pairs with 94% confidence at 5
rounds; a range that spans 1.0 is a tie within the host's noise. The table gives each side's
samples/s and the ratios ipex-tune / peer best; the host's ISA line comes
first; reports/bench-peer/peer.json keeps everything.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import models  # noqa: E402
from recipe import RECIPES, UPSTREAM  # noqa: E402

JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"


def cpus():
    return sorted(os.sched_getaffinity(0))


def one_line(text, limit=120):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def failure(stderr, returncode):
    """The one-line reason of a failed recipe process."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("recipe failed at"):
            return line
    if returncode < 0:
        try:
            sig = signal.Signals(-returncode).name
        except ValueError:
            sig = f"signal {-returncode}"
        stages = [line[len("stage: "):] for line in lines if line.startswith("stage: ")]
        return f"killed by {sig}" + (f" at {stages[-1]}" if stages else "")
    errors = [line for line in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt)\b", line)]
    return (errors or lines or [f"exit code {returncode}"])[-1]


def peer(name, shapes, recipe, layout, seconds):
    """One recipe in one layout ((processes, threads each)): samples/s summed
    over the processes, and the accuracy of the first; or the failure."""
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
                   os.path.join(HERE, "recipe.py"), name, recipe, "--threads", str(threads),
                   "--seconds", str(seconds), "--ready-dir", ready, "--instances", str(processes),
                   "--index", str(i), "--out", out]
            for s in shapes:
                cmd += ["--shape", s]
            children.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.PIPE, text=True))
        errors = [c.communicate()[1] for c in children]
        failed = [(e, c.returncode) for e, c in zip(errors, children) if c.returncode != 0]
        if failed:
            reasons = [failure(e, rc) for e, rc in failed]
            first = [r for r in reasons if r.startswith("recipe failed at")] or reasons
            return {"error": one_line(first[0], 300)}
        results = [json.load(open(o)) for o in outs]
        return dict(results[0], samples_per_s=sum(r["samples_per_s"] for r in results),
                    per_process_samples_per_s=[r["samples_per_s"] for r in results])


def ipex_tune(binary, path, shapes, out, budget, extra):
    cmd = [binary, "run", path, "--suite", "generic", "--quiet", "--output", out, "--budget", budget]
    for s in shapes:
        cmd += ["--input-shape", s]
    done = subprocess.run(cmd + extra, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0 or not os.path.exists(out):
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return None, {"error": f"ipex-tune run exited {done.returncode}: {one_line(lines[-1] if lines else '')}"}
    results = json.load(open(out))
    return results.get("winner"), {"results": out}


def tuned_again(binary, path, shapes, label, seconds, work):
    """The tuned winner measured once more on its own (`run --config`), for
    the rematch: samples/s, or None if it failed."""
    out = os.path.join(work, "rematch-results.json")
    cmd = [binary, "run", path, "--suite", "generic", "--quiet", "--output", out, "--config", label,
           "--min-time", str(seconds)]
    for s in shapes:
        cmd += ["--input-shape", s]
    done = subprocess.run(cmd, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0 or not os.path.exists(out):
        return None
    trials = [t for t in json.load(open(out))["trials"] if t["label"] == label and t.get("stats")]
    return trials[-1]["stats"]["samples_per_s"] if trials else None


def rematch(binary, name, path, shapes, best_key, label, seconds, rounds, work):
    """The best accurate peer recipe and the tuned winner measured in turn,
    `rounds` times each (peer, tuned, peer, tuned, ...), on a host left as
    it was: the ratio of their medians. The search's figure is the best of
    many noisy trials (a winner's curse) and the peer's was taken minutes
    before it; measured side by side, drift hits both.

    Each round's own ratio (tuned over the peer just before it) is kept
    too: the host moves by more than the two sides differ (the peer's own
    rounds spread up to 27% on EfficientNet), and a pair measured seconds
    apart shares the host's state. Their range, min..max, is a
    distribution-free interval of their median: it misses the median with
    probability 2 / 2^rounds (6% at 5 rounds, 25% at 3)."""
    recipe, layout = best_key.split(" ")
    layout = tuple(int(n) for n in layout.split("x"))
    peers, tuned, paired = [], [], []
    for _ in range(rounds):
        r = peer(name, shapes, recipe, layout, seconds)
        if "samples_per_s" in r:
            peers.append(r["samples_per_s"])
        t = tuned_again(binary, path, shapes, label, seconds, work)
        if t is not None:
            tuned.append(t)
        if "samples_per_s" in r and t is not None:
            paired.append(t / r["samples_per_s"])
    if not peers or not tuned:
        return {"error": "a rematch measurement failed", "peer": peers, "tuned": tuned}
    return {"peer": peers, "tuned": tuned, "peer_median": median(peers), "tuned_median": median(tuned),
            "ratio": median(tuned) / median(peers), "paired_ratios": paired,
            "paired_median": median(paired) if paired else None,
            "paired_range": [min(paired), max(paired)] if paired else None,
            "paired_confidence": 1 - 2 / 2 ** len(paired) if paired else None}


def median(xs):
    xs = sorted(xs)
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def isa_line(binary):
    if os.path.exists(binary):
        done = subprocess.run([binary, "doctor", "--json", "--sample-ms", "100"], capture_output=True, text=True)
        try:
            host = json.loads(done.stdout)["host"]
            isa = host["isa"]
            flags = [k for k in ("avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8")
                     if isa.get(k)]
            return (f'{host["cpu"]["model_name"]}, ISA level {host["isa_level"]} '
                    f'({", ".join(flags) or "no AVX-512"}), {host["limits"]["usable_cores"]} usable cores')
        except (ValueError, KeyError):
            pass
    # Without the binary (--peer-only smoke runs): /proc/cpuinfo.
    info = open("/proc/cpuinfo").read()
    model = re.search(r"model name\s*:\s*(.*)", info)
    flags = set((re.search(r"flags\s*:\s*(.*)", info) or ["", ""])[1].split())
    shown = [f for f in ("avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8") if f in flags]
    return (f'{model.group(1) if model else "unknown CPU"} ({", ".join(shown) or "no AVX-512"}), '
            f"{len(cpus())} usable cores (from /proc/cpuinfo: {binary} not found)")


def write_model(name, shapes, work):
    """The TorchScript file of one (model, shape), loaded back and run once;
    or why it could not be made."""
    path = os.path.join(work, f"{models.file_stem(name, shapes)}.pt")
    try:
        module = models.build(name)
    except ImportError as e:
        return None, f"needs {models.library(name)}, not installed ({one_line(str(e), 80)})"
    example = models.inputs(shapes)
    try:
        torch.jit.save(models.to_torchscript(name, module, example), path)
        with torch.no_grad():
            loaded = torch.jit.load(path)(*example)
            want = module(*example)
        if not isinstance(loaded, torch.Tensor):
            return None, f"the saved model returns {type(loaded).__name__}, not one tensor"
        if loaded.shape != want.shape or not torch.allclose(loaded, want, rtol=1e-3, atol=1e-4):
            return None, "the saved model's outputs differ from the module's"
    except Exception as e:  # noqa: BLE001
        return None, f"{models.save_mode(name)} failed: {type(e).__name__}: {one_line(str(e), 100)}"
    return path, None


def recipe_cell(key, r):
    if "error" in r:
        return f"{key}: failed ({one_line(r['error'], 110)})"
    verdict = f"cos {r['cosine']:.6f}" if r.get("cosine") is not None else "no cosine"
    if not r["accurate"]:
        return f"{key}: {r['samples_per_s']:.1f} INACCURATE ({verdict})"
    return f"{key}: {r['samples_per_s']:.1f}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(models.MODELS), help="comma list of " + ",".join(models.MODELS))
    p.add_argument("--shapes", choices=("default", "all"), default="default",
                   help="each model's default shape, or also its second one")
    p.add_argument("--seconds", type=float, default=5.0, help="timed seconds per peer measurement")
    p.add_argument("--budget", default="5m", help="ipex-tune run --budget")
    p.add_argument("--peer-only", action="store_true", help="skip ipex-tune (smoke tests)")
    p.add_argument("--work", default=os.path.join(ROOT, "reports", "bench-peer"))
    p.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "ipex-tune"))
    p.add_argument("--ipex-tune-args", default="", help="extra arguments for ipex-tune run")
    p.add_argument("--rematch", type=int, default=5,
                   help="rounds of the side-by-side rematch of the best peer recipe and the tuned winner "
                        "(0: the ratio is the search's figure over the peer's first)")
    a = p.parse_args()
    entries = models.entries([m for m in a.models.split(",") if m], a.shapes == "all")
    if not a.peer_only and not os.path.exists(a.binary):
        raise SystemExit(f"{a.binary} not found: `make build` first, or --peer-only")
    os.makedirs(a.work, exist_ok=True)
    n = len(cpus())
    layouts = [(1, n)] + ([(n, 1)] if n > 1 else [])
    host = isa_line(a.binary)
    print(f"host: {host}", flush=True)
    rows = []
    for name, shapes in entries:
        row = {"model": models.label(name, shapes), "name": name, "family": models.MODELS[name][0],
               "input_shapes": shapes, "saved_as": models.save_mode(name), "peer": {}}
        rows.append(row)
        print(f"model: {row['model']} ...", file=sys.stderr, flush=True)
        path, error = write_model(name, shapes, a.work)
        row["file"], row["error"] = path, error
        if error:
            print(f"  {error}", file=sys.stderr)
            continue
        for recipe in RECIPES:
            for layout in layouts:
                key = f"{recipe} {layout[0]}x{layout[1]}"
                print(f"  peer {key} ...", file=sys.stderr, flush=True)
                row["peer"][key] = peer(name, shapes, recipe, layout, a.seconds)
        # The bar is IPEX's expert recipes; torch.compile is the second,
        # upstream peer, compared apart.
        accurate = {k: r["samples_per_s"] for k, r in row["peer"].items()
                    if r.get("accurate") and k.split()[0] not in UPSTREAM}
        row["peer_best"] = max(accurate, key=accurate.get) if accurate else None
        row["peer_best_samples_per_s"] = accurate.get(row["peer_best"])
        upstream = {k: r["samples_per_s"] for k, r in row["peer"].items()
                    if r.get("accurate") and k.split()[0] in UPSTREAM}
        row["compile_best"] = max(upstream, key=upstream.get) if upstream else None
        row["compile_best_samples_per_s"] = upstream.get(row["compile_best"])
        if a.peer_only:
            row["ipex_tune"] = {"skipped": "--peer-only"}
            continue
        print("  ipex-tune run ...", file=sys.stderr, flush=True)
        out = os.path.join(a.work, f"{models.file_stem(name, shapes)}-results.json")
        winner, info = ipex_tune(a.binary, path, shapes, out, a.budget, a.ipex_tune_args.split())
        row["ipex_tune"] = dict(info, winner=winner and winner["label"],
                                samples_per_s=winner and winner["samples_per_s"])
        if winner and row["compile_best_samples_per_s"]:
            row["compile_ratio"] = winner["samples_per_s"] / row["compile_best_samples_per_s"]
        if winner and row["peer_best_samples_per_s"]:
            row["search_ratio"] = winner["samples_per_s"] / row["peer_best_samples_per_s"]
            if a.rematch > 0:
                print(f"  rematch: {row['peer_best']} against {winner['label']}, {a.rematch} rounds ...",
                      file=sys.stderr, flush=True)
                row["rematch"] = rematch(a.binary, name, path, shapes, row["peer_best"], winner["label"],
                                         a.seconds, a.rematch, a.work)
                if "ratio" in row["rematch"]:
                    row["ratio"] = row["rematch"]["ratio"]
            else:
                row["ratio"] = row["search_ratio"]

    print()
    print("| model | peer recipes (samples/s) | peer best (accurate) | ipex-tune winner | search ratio "
          "| rematch peer / tuned (medians) | ratio | paired rounds: median (range) "
          "| torch.compile best | ratio to it (search) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        if row["error"]:
            print(f"| {row['model']} | {row['error']} | - | - | - | - | - | - | - | - |")
            continue
        recipes = "; ".join(recipe_cell(k, r) for k, r in row["peer"].items())
        best = (f"{row['peer_best']}: {row['peer_best_samples_per_s']:.1f}" if row["peer_best"]
                else "none accurate")
        tuned = row["ipex_tune"]
        if "skipped" in tuned:
            won = "skipped (--peer-only)"
        elif "error" in tuned:
            won = one_line(tuned["error"], 100)
        elif tuned["winner"]:
            won = f"{tuned['winner']}: {tuned['samples_per_s']:.1f}"
        else:
            won = "no winner"
        ratio = f"{row['ratio']:.2f}" if "ratio" in row else "-"
        search_ratio = f"{row['search_ratio']:.2f}" if "search_ratio" in row else "-"
        match = row.get("rematch")
        paired = "-"
        if match is None:
            matched = "-"
        elif "error" in match:
            matched = match["error"]
        else:
            matched = f"{match['peer_median']:.1f} / {match['tuned_median']:.1f}"
            if match.get("paired_range"):
                lo, hi = match["paired_range"]
                paired = (f"{match['paired_median']:.2f} ({lo:.2f}..{hi:.2f}, "
                          f"{100 * match['paired_confidence']:.0f}%)")
        upstream = (f"{row['compile_best']}: {row['compile_best_samples_per_s']:.1f}" if row["compile_best"]
                    else "none accurate")
        compile_ratio = f"{row['compile_ratio']:.2f}" if "compile_ratio" in row else "-"
        print(f"| {row['model']} | {recipes} | {best} | {won} | {search_ratio} | {matched} | {ratio} "
              f"| {paired} | {upstream} | {compile_ratio} |")
    with open(os.path.join(a.work, "peer.json"), "w") as f:
        json.dump({"host": host, "layouts": layouts, "seconds": a.seconds, "rematch_rounds": a.rematch,
                   "budget": None if a.peer_only else a.budget, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
