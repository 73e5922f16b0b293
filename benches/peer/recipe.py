"""One measurement of IPEX's documented Python recipe, in this process.

    recipe.py MODEL RECIPE --threads N --seconds S --ready-dir D --instances K --index I --out FILE

RECIPE is one of
  fp32:  ipex.optimize(model) -> torch.jit.trace -> torch.jit.freeze
  bf16:  ipex.optimize(model, dtype=torch.bfloat16) -> trace and freeze under
         torch.autocast("cpu", torch.bfloat16)
  int8:  ipex.quantization.prepare(model, default_static_qconfig_mapping)
         -> calibrate -> convert -> trace -> freeze
as IPEX's CPU inference examples write them. With several instances (the
launcher's throughput mode), each process waits for the others to be warm
(files in --ready-dir) before timing, so the windows overlap.
"""
import argparse
import json
import os
import time

import torch

import intel_extension_for_pytorch as ipex  # noqa: E402  (after torch)

from models import all_models


def optimized(name, recipe):
    model, inputs, _ = all_models()[name]
    model.eval()
    with torch.no_grad():
        if recipe == "fp32":
            model = ipex.optimize(model)
            traced = torch.jit.trace(model, inputs, strict=False)
        elif recipe == "bf16":
            model = ipex.optimize(model, dtype=torch.bfloat16)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                traced = torch.jit.trace(model, inputs, strict=False)
        elif recipe == "int8":
            from intel_extension_for_pytorch.quantization import convert, prepare

            qconfig = ipex.quantization.default_static_qconfig_mapping
            prepared = prepare(model, qconfig, example_inputs=inputs, inplace=False)
            for _ in range(4):
                prepared(*inputs)
            traced = torch.jit.trace(convert(prepared), inputs, strict=False)
        else:
            raise SystemExit(f"unknown recipe {recipe}")
        traced = torch.jit.freeze(traced)
    return traced, inputs


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("recipe")
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--ready-dir", required=True)
    p.add_argument("--instances", type=int, default=1)
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    traced, inputs = optimized(a.model, a.recipe)
    batch = inputs[0].shape[0]
    with torch.no_grad():
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.recipe == "bf16")
        with autocast:
            for _ in range(10):
                traced(*inputs)
            open(os.path.join(a.ready_dir, f"ready-{a.index}"), "w").close()
            while len([f for f in os.listdir(a.ready_dir) if f.startswith("ready-")]) < a.instances:
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
        json.dump({"samples_per_s": len(latencies) * batch / elapsed,
                   "p50_ms": latencies[len(latencies) // 2] * 1e3,
                   "iterations": len(latencies)}, f)


if __name__ == "__main__":
    main()
