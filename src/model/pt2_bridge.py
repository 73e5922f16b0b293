"""A program saved by torch.export.save, made runnable by ipex-tune's native
runtime, in the project's Python (torch of the libtorch ipex-tune links):

    python pt2_bridge.py PROGRAM.pt2 OUT_DIR

The program is loaded (torch.export.load) and its module traced on the
example inputs it was saved with into OUT_DIR/model.pt: TorchScript of the
program's own ATen ops, which libtorch runs op by op as eager PyTorch runs
the program (the `stock` reference, and the input of the `ipex` backend),
and which tells ipex-tune's model stage the inputs' sizes and the op
histogram. The inductor backend compiles the program itself, not this
trace. On success the last line of stdout is a JSON object describing the
program; on failure the last line of stderr is "pt2 bridge failed: ..."
and the exit code is 1.
"""
import json
import os
import sys


class BridgeError(Exception):
    pass


def dtype_name(dtype):
    return str(dtype).replace("torch.", "")


def tensors_of(value):
    """The tensor leaves of an output, in pytree order."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in tensors_of(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors_of(v)]
    return []


def finite(value):
    """A range bound as an int; None for an infinite one (int_oo)."""
    try:
        return int(value) if bool(value.is_finite) else None
    except (AttributeError, TypeError, ValueError, OverflowError):
        return None


def dynamic_dims(program, args):
    """Per input, the dims the program leaves symbolic, with their ranges
    ("batch in [1, 64]"), read from the example's fake values."""
    import torch

    dims = []
    placeholders = [n for n in program.graph.nodes if n.op == "placeholder"]
    user = [s.arg.name for s in program.graph_signature.input_specs
            if s.kind == torch.export.graph_signature.InputKind.USER_INPUT]
    by_name = {n.name: n for n in placeholders}
    ranges = program.range_constraints
    for index, name in enumerate(user):
        value = by_name[name].meta.get("val")
        if value is None or not hasattr(value, "shape"):
            continue
        for dim, size in enumerate(value.shape):
            if isinstance(size, int):
                continue
            bound = ranges.get(size.node.expr)
            low = finite(bound.lower) if bound is not None else None
            high = finite(bound.upper) if bound is not None else None
            dims.append({"input": index, "dim": dim, "symbol": str(size), "min": low, "max": high})
    return dims


def main(program_path, out_dir):
    import torch

    try:
        program = torch.export.load(program_path)
    except Exception as e:  # noqa: BLE001  (the file's own problem, on one line)
        raise BridgeError(f"cannot load as a torch.export program: {type(e).__name__}: "
                          f"{' '.join(str(e).split())[:300]}") from e
    example = program.example_inputs
    if example is None:
        raise BridgeError("was saved without example inputs (torch.export.save of a program "
                          "exported by torch 2.5 or later keeps them)")
    args, kwargs = example
    if kwargs:
        raise BridgeError(f"takes keyword inputs ({', '.join(kwargs)}); ipex-tune feeds "
                          "positional tensors: export the model with its inputs as args")
    if not all(isinstance(a, torch.Tensor) for a in args):
        kinds = ", ".join(type(a).__name__ for a in args)
        raise BridgeError(f"takes non-tensor inputs ({kinds}); ipex-tune feeds tensors")
    module = program.module()
    with torch.no_grad():
        try:
            want = module(*args)
            # The unlifted module checks its inputs against the program's
            # dims in a forward pre-hook, on symbolic sizes the tracer
            # refuses ("JIT Tracing of SymInts isn't supported"); the suite's
            # shapes are checked against the same dims before any trial.
            module._forward_pre_hooks.clear()
            traced = torch.jit.trace(module, args, check_trace=False, strict=False)
            got = traced(*args)
        except Exception as e:  # noqa: BLE001
            raise BridgeError(f"cannot be traced to TorchScript: {type(e).__name__}: "
                              f"{' '.join(str(e).split())[:300]}") from e
    want, got = tensors_of(want), tensors_of(got)
    if len(want) != len(got) or any(
            w.shape != g.shape or not torch.allclose(w, g, rtol=1e-4, atol=1e-5)
            for w, g in zip(want, got)):
        raise BridgeError("its TorchScript trace does not reproduce the program's outputs")
    os.makedirs(out_dir, exist_ok=True)
    torch.jit.save(traced, os.path.join(out_dir, "model.pt"))
    print(json.dumps({
        "torch": torch.__version__,
        "inputs": [{"sizes": list(a.shape), "dtype": dtype_name(a.dtype)} for a in args],
        "dynamic_dims": dynamic_dims(program, args),
        "outputs": len(want),
        "graph_nodes": sum(1 for n in program.graph.nodes if n.op == "call_function"),
    }))


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2])
    except BridgeError as e:
        print(f"pt2 bridge failed: {e}", file=sys.stderr)
        sys.exit(1)
