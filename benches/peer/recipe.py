"""One measurement of a documented recipe, in this process.

    recipe.py MODEL RECIPE --shape S [--shape S ...] --threads N --seconds T
              --ready-dir D --instances K --index I --out FILE

RECIPE is one of
  jit:   torch.jit.trace (torch.jit.script for a model its users script)
         -> torch.jit.freeze, no IPEX (IPEX's documented baseline)
  fp32:  ipex.optimize(model) -> torch.jit.trace -> torch.jit.freeze
  bf16:  ipex.optimize(model, dtype=torch.bfloat16) -> trace and freeze under
         torch.autocast("cpu", torch.bfloat16)
  int8:  ipex.quantization.prepare(model, default_static_qconfig_mapping)
         -> calibrate -> convert -> trace -> freeze
  compile, compile-bf16: upstream PyTorch's CPU recipe since IPEX was
         archived: torch.compile(model, mode="max-autotune") with Inductor's
         freezing on (fp32; or run under torch.autocast bf16)
as IPEX's CPU inference examples write them (and PyTorch's for compile) (the IPEX recipes trace: the
expert has the nn.Module). The inputs are those ipex-tune's generic suite
makes for the same --input-shape values (models.inputs); calibration runs
4 batches of them.

Accuracy: the recipe's outputs on those inputs against the eager fp32
module's, as src/measure/accuracy.rs compares them (flattened, in double:
max abs error and cosine similarity), judged as ipex-tune's generic suite
judges a trial (metric cosine: fp32 >= 0.99999, bf16 >= 0.999, int8-static
>= 0.98; NaN or infinite outputs where eager's are finite always fail).
Written to the out JSON as `accurate`, `cosine`, `max_abs`.

With several instances (the launcher's throughput mode), each process waits
for the others to be warm (files in --ready-dir) before timing, so the
windows overlap. A failure prints one line `recipe failed at STAGE: ...` on
stderr and exits 1.
"""
import argparse
import json
import math
import os
import sys
import time

import torch

import models

RECIPES = ("jit", "fp32", "bf16", "int8", "compile", "compile-bf16")
# The upstream peer: measured beside IPEX's recipes, compared apart.
UPSTREAM = ("compile", "compile-bf16")

# The generic suite's tolerances (src/suite/mod.rs Suite::generic), by the
# ipex-tune dtype each recipe is: (max_abs, min_cosine). Its metric is
# cosine: max_abs is reported, the cosine decides.
DTYPE = {"jit": "fp32", "fp32": "fp32", "bf16": "bf16-autocast", "int8": "int8-static",
         "compile": "fp32", "compile-bf16": "bf16-autocast"}
TOLERANCE = {"fp32": (1e-4, 0.99999), "bf16-autocast": (5e-2, 0.999), "int8-static": (2e-1, 0.98)}


class Failed(Exception):
    pass


def stage(name, fn, *args, **kwargs):
    # The stage reached, for the reason of a crash (a signal leaves no message).
    print(f"stage: {name}", file=sys.stderr, flush=True)
    try:
        return fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001  (any failure is the recipe's)
        first = (str(e).strip().splitlines() or [""])[0]
        raise Failed(f"recipe failed at {name}: {type(e).__name__}: {first}"[:300]) from e


def optimized(name, recipe, model, inputs):
    """The recipe's frozen TorchScript module."""
    if recipe == "jit":
        traced = stage(models.save_mode(name), models.to_torchscript, name, model, inputs)
        return stage("freeze", torch.jit.freeze, traced.eval())
    if recipe in UPSTREAM:
        # Compiles on the first call (the "first run" stage, under autocast
        # for compile-bf16), as a user's first request would.
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        return stage("torch.compile", torch.compile, model, mode="max-autotune")
    import intel_extension_for_pytorch as ipex  # after torch

    if recipe == "fp32":
        model = stage("ipex.optimize", ipex.optimize, model)
        traced = stage("trace", torch.jit.trace, model, inputs, strict=False)
        return stage("freeze", torch.jit.freeze, traced)
    if recipe == "bf16":
        model = stage("ipex.optimize", ipex.optimize, model, dtype=torch.bfloat16)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            traced = stage("trace", torch.jit.trace, model, inputs, strict=False)
            return stage("freeze", torch.jit.freeze, traced)
    if recipe == "int8":
        from intel_extension_for_pytorch.quantization import convert, prepare

        qconfig = ipex.quantization.default_static_qconfig_mapping
        prepared = stage("prepare", prepare, model, qconfig, example_inputs=inputs, inplace=False)

        def calibrate():
            for _ in range(4):
                prepared(*inputs)

        stage("calibrate", calibrate)
        converted = stage("convert", convert, prepared)
        traced = stage("trace", torch.jit.trace, converted, inputs, strict=False)
        return stage("freeze", torch.jit.freeze, traced)
    raise SystemExit(f"unknown recipe {recipe}; expected one of {', '.join(RECIPES)}")


def tensors(out):
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in tensors(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in tensors(o)]
    return []


def compare(got, want):
    """max abs error, cosine similarity and the count of non-finite values
    (where want's are finite) of one output, as src/measure/accuracy.rs."""
    if got.shape != want.shape:
        return {"max_abs": None, "cosine": None, "non_finite": 0,
                "error": f"output shape {list(got.shape)} differs from eager's {list(want.shape)}"}
    non_finite = int((~torch.isfinite(got) & torch.isfinite(want)).sum())
    if non_finite:
        return {"max_abs": None, "cosine": -1.0, "non_finite": non_finite}
    a = got.detach().to(torch.float64).flatten()
    b = want.detach().to(torch.float64).flatten()
    diff = (a - b).abs()
    max_abs = float(diff.max()) if diff.numel() else 0.0
    norms = float(a.norm()) * float(b.norm())
    if norms > 0:
        cosine = float((a * b).sum()) / norms
    else:
        cosine = 1.0 if max_abs == 0 else 0.0
    return {"max_abs": max_abs, "cosine": cosine, "non_finite": 0}


def accuracy(recipe, got, want):
    """The worst comparison over the outputs and the generic suite's verdict."""
    got, want = tensors(got), tensors(want)
    dtype = DTYPE[recipe]
    max_abs_tol, min_cosine = TOLERANCE[dtype]
    result = {"dtype": dtype, "tolerance": {"max_abs": max_abs_tol, "min_cosine": min_cosine, "metric": "cosine"}}
    if len(got) != len(want):
        return dict(result, accurate=False, cosine=None, max_abs=None,
                    reason=f"{len(got)} output(s), eager gives {len(want)}")
    parts = [compare(g, w) for g, w in zip(got, want)]
    bad = [p["error"] for p in parts if p.get("error")]
    non_finite = sum(p["non_finite"] for p in parts)
    cosine = min((p["cosine"] for p in parts if p["cosine"] is not None), default=None)
    max_abs = None if non_finite or bad else max((p["max_abs"] for p in parts), default=0.0)
    reason = None
    if bad:
        reason = bad[0]
    elif non_finite:
        reason = f"{non_finite} output value(s) are NaN or infinite where eager's are finite"
    elif cosine is None or not cosine >= min_cosine:
        reason = f"cosine similarity {cosine:.6f} below {min_cosine:.6f}"
    elif not math.isfinite(max_abs):
        reason = f"outputs are not finite (max abs error {max_abs})"
    return dict(result, accurate=reason is None, cosine=cosine, max_abs=max_abs, non_finite=non_finite,
                reason=reason)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model", choices=list(models.MODELS))
    p.add_argument("recipe", choices=RECIPES)
    p.add_argument("--shape", action="append", required=True, help="an ipex-tune --input-shape value")
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--ready-dir", required=True)
    p.add_argument("--instances", type=int, default=1)
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    bf16 = a.recipe in ("bf16", "compile-bf16")
    try:
        model = stage("build", models.build, a.model)
        inputs = models.inputs(a.shape)
        with torch.no_grad():
            reference = stage("eager forward", model, *inputs)
            traced = optimized(a.model, a.recipe, model, inputs)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                outputs = stage("first run", traced, *inputs)
                for _ in range(9):
                    traced(*inputs)
        check = accuracy(a.recipe, outputs, reference)
    except Failed as e:
        print(e, file=sys.stderr)
        # Let the other instances stop waiting: this one will never be ready.
        open(os.path.join(a.ready_dir, f"failed-{a.index}"), "w").close()
        sys.exit(1)
    batch = inputs[0].shape[0]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        open(os.path.join(a.ready_dir, f"ready-{a.index}"), "w").close()
        while True:
            names = os.listdir(a.ready_dir)
            if any(f.startswith("failed-") for f in names):
                print("recipe failed: another instance failed", file=sys.stderr)
                sys.exit(1)
            if len([f for f in names if f.startswith("ready-")]) >= a.instances:
                break
            time.sleep(0.01)
        latencies = []
        start = time.perf_counter()
        while time.perf_counter() - start < a.seconds:
            t = time.perf_counter()
            traced(*inputs)
            latencies.append(time.perf_counter() - t)
        elapsed = time.perf_counter() - start
    latencies.sort()
    with open(a.out, "w") as f:
        json.dump(dict(check, samples_per_s=len(latencies) * batch / elapsed,
                       p50_ms=latencies[len(latencies) // 2] * 1e3, iterations=len(latencies),
                       threads=a.threads), f)


if __name__ == "__main__":
    main()
