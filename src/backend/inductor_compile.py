"""The inductor backend's compile step, run by ipex-tune's trial child in the
project's Python (torch of the same version as the libtorch ipex-tune links):

    python inductor_compile.py REQUEST.json

REQUEST names the TorchScript model and its method, the inputs (a
safetensors file: one example batch per shape, "shape{i}_arg{j}", and the
calibration batches, "calib{i}_arg{j}"), the config's dtype, freezing,
max-autotune and thread count, and where to write one AOTInductor package
(.pt2) per shape. The model goes TorchScript -> ExportedProgram (torch's
TS2EPConverter) -> [bf16 / PT2E int8 with X86InductorQuantizer] ->
torch.export per shape -> aoti_compile_and_package. With "dynamic", one
package for every shape instead: exported once, from the largest shape,
with a torch.export.Dim on each dimension whose size differs between the
shapes (see dynamic_dims), and written to the first package path. When REQUEST names a
"program" (the model was given as a torch.export.save file, and "model" is
its TorchScript trace), the program's module is exported per shape instead
of a conversion of the trace. On success the last
line of stdout is a JSON object: the packages and the time of each stage.
On failure the last line of stderr says which stage failed and why, and the
exit code is 1.
"""
import json
import sys
import time


class StageError(Exception):
    pass


def stage(name, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except StageError:
        raise
    except Exception as e:  # the stage's own error, on one line
        text = " ".join(str(e).split())
        raise StageError(f"{name}: {type(e).__name__}: {text[:400]}") from e


def batches(tensors, prefix):
    """The batches named PREFIX{i}_arg{j}, in order."""
    out = {}
    for name, t in tensors.items():
        if not name.startswith(prefix):
            continue
        i, j = name[len(prefix):].split("_arg")
        out.setdefault(int(i), {})[int(j)] = t
    return [tuple(b[j] for j in sorted(b)) for _, b in sorted(out.items())]


def sizes_of(args):
    return [list(a.shape) for a in args]


def main(request_path):
    with open(request_path) as f:
        req = json.load(f)
    import torch
    from safetensors.torch import load_file

    torch.set_num_threads(int(req["threads"]))
    # The kernels' OpenMP thread count is fixed at compile time
    # (config.cpp.threads, default torch.get_num_threads()).
    import torch._inductor.config as inductor_config

    inductor_config.cpp.threads = int(req["threads"])
    tensors = load_file(req["inputs"])
    shapes = batches(tensors, "shape")
    calibration = batches(tensors, "calib") or shapes
    dtype = req["dtype"]
    times = {}

    if req.get("method", "forward") != "forward":
        raise StageError("export: the inductor backend compiles the forward method only")
    t = time.perf_counter()
    if req.get("program"):
        saved = stage("load (torch.export.load)", torch.export.load, req["program"])
        script = None
    else:
        script = stage("load", torch.jit.load, req["model"], map_location="cpu")
        script.eval()
    times["load_s"] = time.perf_counter() - t
    if script is not None:
        stage("export (TorchScript to ExportedProgram)", sizes_as_ints, torch, script)
    from torch._export.converter import TS2EPConverter

    def cast(args):
        if dtype != "bf16":
            return args
        return tuple(a.to(torch.bfloat16) if a.is_floating_point() else a for a in args)

    packages = []
    for key in ("convert_s", "quantize_s", "export_s", "compile_s"):
        times[key] = 0.0
    dynamic = None
    work = list(enumerate(shapes))
    if req.get("dynamic"):
        dynamic = stage("dynamic shapes", dynamic_dims, torch, shapes)
        # Exported from the largest shape: torch.export specializes a
        # dimension whose example size is 0 or 1.
        work = [(0, max(shapes, key=lambda a: sum(t.numel() for t in a)))]
    for index, args in work:
        # The converter's program holds the sample's sizes: one per shape.
        t = time.perf_counter()
        if script is None:
            # Export specializes every dim the program leaves symbolic to
            # this shape's sizes, as the converter's program does.
            module = saved.module()
        else:
            converted = stage("export (TorchScript to ExportedProgram)",
                              lambda: TS2EPConverter(script, args).convert())
            module = converted.module()
            standard_convolutions(torch, module)
        times["convert_s"] += time.perf_counter() - t
        if dtype == "bf16":
            module = module.to(torch.bfloat16)
        args = cast(args)
        t = time.perf_counter()
        if dtype == "int8-static":
            fitting = calibration if dynamic else \
                [c for c in calibration if sizes_of(c) == sizes_of(args)]
            program = stage("int8-static (PT2E)", quantize, torch, module, args, fitting or [args],
                            dynamic)
            times["quantize_s"] += time.perf_counter() - t
        elif dtype == "bf16-autocast":
            # The wrapper takes *args: its dynamic_shapes are one element,
            # the tuple of the arguments' own.
            program = stage("export under bf16 autocast", torch.export.export,
                            Autocast(torch, module), args,
                            dynamic_shapes=None if dynamic is None else (dynamic,))
            times["export_s"] += time.perf_counter() - t
        else:
            program = stage("export", torch.export.export, module, args, dynamic_shapes=dynamic)
            times["export_s"] += time.perf_counter() - t
        t = time.perf_counter()
        configs = {"freezing": bool(req["freezing"])}
        if req.get("max_autotune"):
            configs["max_autotune"] = True
            configs["max_autotune_gemm_backends"] = "CPP,ATEN"
        path = stage("compile (AOTInductor)", compile_package, torch, program,
                     req["packages"][index], configs)
        times["compile_s"] += time.perf_counter() - t
        packages.append({"sizes": sizes_of(args), "path": path, "dynamic": dynamic is not None})
    print(json.dumps({"packages": packages, **times}))


def dynamic_dims(torch, shapes):
    """torch.export's dynamic_shapes for the positional arguments: a Dim
    over the sizes the suite feeds for every dimension whose size differs
    between its shapes, None where an argument has none. Dimensions that
    take the same sizes in every shape share one Dim (token ids and their
    mask share batch and sequence length): the model's graph equates them,
    and torch.export refuses two Dims it proves equal."""
    ranks = {tuple(a.dim() for a in args) for args in shapes}
    if len(ranks) != 1:
        raise ValueError("the shapes differ in their number of dimensions")
    by_sizes = {}
    spec = []
    for j in range(len(shapes[0])):
        dims = {}
        for d in range(shapes[0][j].dim()):
            sizes = tuple(args[j].shape[d] for args in shapes)
            if len(set(sizes)) == 1:
                continue
            if sizes not in by_sizes:
                by_sizes[sizes] = torch.export.Dim(f"dim{len(by_sizes)}", min=min(sizes),
                                                   max=max(sizes))
            dims[d] = by_sizes[sizes]
        spec.append(dims or None)
    return tuple(spec)


def compile_package(torch, program, path, configs):
    """aoti_compile_and_package with gradients off. Inductor freezes only
    when grad mode is off (compile_fx: config.freezing and not
    torch.is_grad_enabled()); with grad mode on, freezing=True is silently
    ignored: weights stay inputs, nothing is folded or prepacked, and the
    int8 patterns (dequantize of a constant int8 weight -> conv/linear)
    never become oneDNN qconv/qlinear kernels, so an int8 package runs
    its convolutions in fp32."""
    with torch.no_grad():
        return torch._inductor.aoti_compile_and_package(
            program, package_path=path, inductor_configs=configs)


def Autocast(torch, module):
    """The module run under CPU autocast to bf16, as IPEX's and PyTorch's
    bf16 recipes run it: export records the autocast region (an ambient
    autocast around torch.export is not recorded), and lowering puts the
    casts autocast's policy makes into the graph."""

    class Autocast(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self.inner(*args)

    return Autocast(module)


def weights_as_parameters(torch, module):
    """The converter registers a TorchScript module's weights as buffers;
    PT2E's conv-bn folding assigns the folded weight as a parameter, which
    fails on a buffer of that name. Floating buffers become parameters
    (without gradients): nothing else reads the difference."""
    for sub in module.modules():
        for name, value in list(sub._buffers.items()):
            if value is not None and value.is_floating_point():
                del sub._buffers[name]
                sub.register_parameter(name, torch.nn.Parameter(value, requires_grad=False))


def record_sources(torch, module):
    """X86InductorQuantizer finds its patterns (conv, conv+relu, linear+add,
    ...) by the nn.Module or function each node came from (the
    "source_fn_stack" that export records for Python code). A graph
    converted from TorchScript has no Python source: each node gets the
    source a Python module's export would record for its op."""
    import operator

    aten, nn = torch.ops.aten, torch.nn
    sources = {
        aten.conv1d.default: nn.Conv1d,
        aten.conv2d.default: nn.Conv2d,
        aten.conv3d.default: nn.Conv3d,
        aten.linear.default: nn.Linear,
        aten.relu.default: nn.ReLU,
        aten.relu_.default: nn.ReLU,
        aten.hardtanh.default: nn.Hardtanh,
        aten.hardtanh_.default: nn.Hardtanh,
        aten.hardswish.default: nn.Hardswish,
        aten.hardswish_.default: nn.Hardswish,
        aten.silu.default: nn.SiLU,
        aten.silu_.default: nn.SiLU,
        aten.gelu.default: nn.GELU,
        aten.tanh.default: nn.Tanh,
        aten.leaky_relu.default: nn.LeakyReLU,
        aten.max_pool2d.default: nn.MaxPool2d,
        aten.adaptive_avg_pool2d.default: nn.AdaptiveAvgPool2d,
        aten.avg_pool2d.default: nn.AvgPool2d,
        aten.add.Tensor: operator.add,
        aten.add_.Tensor: operator.add,
        aten.matmul.default: torch.matmul,
        aten.flatten.using_ints: torch.flatten,
    }
    for node in module.graph.nodes:
        if node.op != "call_function":
            # A program exported with dynamic shapes records its layers'
            # weights (get_attr) under the layer's source too: a partition
            # of weights alone, without the conv, fails the quantizer
            # (IndexError in _annotate_conv2d).
            node.meta.pop("source_fn_stack", None)
            continue
        source = sources.get(node.target)
        if source is not None:
            node.meta["source_fn_stack"] = [(node.name, source)]


def sizes_as_ints(torch, script):
    """A traced size that went through tensor arithmetic comes back as
    aten::Int of a tensor: Hugging Face's BERT embeddings slice
    position_ids[:, past:seq_length + past] with past a tensor constant,
    traced as Int(add(NumToTensor(size(x, 1)), {0})). The converter makes
    aten::Int a .item(), an unbacked symbol once the constant is lifted, and
    the slice on it fails to export (GuardOnDataDependentSymNode: u0 < 0).
    GPT-2's attention scale, torch.full([], value.size(-1) ** 0.5), is
    ScalarImplicit(pow(NumToTensor(size), 0.5)): an unbacked float, whose
    symbol (zuf8) Inductor then wrote undeclared into its C++ kernel
    (CppCompileError). Where the tensor is add/sub/mul/div/pow of traced
    sizes (prim::NumToTensor) and 0-dim or scalar constants, the same
    arithmetic on numbers replaces aten::Int, aten::Float and
    aten::ScalarImplicit, as torch.export records sizes. In the forward
    graph, inlined (the converter freezes, which inlines it too)."""
    graph = script.forward.graph
    torch._C._jit_pass_inline(graph)
    Int, Float = torch._C.IntType.get(), torch._C.FloatType.get()

    def as_number(value, before):
        """The value as an int or float graph value, or None."""
        node = value.node()
        kind = node.kind()
        if kind == "prim::NumToTensor":
            return node.input() if node.input().type().kind() in ("IntType", "FloatType") else None
        if kind == "prim::Constant":
            if value.type().kind() in ("IntType", "FloatType"):
                return value
            if not node.hasAttribute("value") or node.kindOf("value") != "t":
                return None
            t = node.t("value")
            if t.dim() != 0 or t.is_complex() or t.dtype == torch.bool:
                return None
            with graph.insert_point_guard(before):
                return graph.insertConstant(float(t) if t.is_floating_point() else int(t))
        if kind not in ("aten::add", "aten::sub", "aten::mul", "aten::div", "aten::pow"):
            return None
        inputs = list(node.inputs())
        if kind in ("aten::add", "aten::sub"):  # (self, other, alpha): alpha 1 only
            if len(inputs) != 3 or inputs[2].node().kind() != "prim::Constant" \
                    or inputs[2].toIValue() != 1:
                return None
        elif len(inputs) != 2:
            return None
        a, b = as_number(inputs[0], before), as_number(inputs[1], before)
        if a is None or b is None:
            return None
        with graph.insert_point_guard(before):
            out = graph.insertNode(graph.create(kind, [a, b])).output()
        ints = a.type().kind() == "IntType" and b.type().kind() == "IntType"
        # int / int and int ** int are floats in TorchScript, as in Python.
        out.setType(Int if ints and kind not in ("aten::div", "aten::pow") else Float)
        return out

    wanted = {"aten::Int": ("IntType",), "aten::Float": ("FloatType",),
              "aten::ScalarImplicit": ("IntType", "FloatType")}
    for node in list(graph.nodes()):
        if node.kind() in wanted:
            value = as_number(node.input(), node)
            if value is not None and value.type().kind() in wanted[node.kind()]:
                node.output().replaceAllUsesWith(value)
                node.destroy()
    torch._C._jit_pass_dce(graph)


def standard_convolutions(torch, module):
    """A traced TorchScript convolution is aten::_convolution, which the
    converter makes aten.convolution: the op CPU autocast does not cast and
    X86InductorQuantizer's patterns do not match (they match conv1d/2d/3d,
    what torch.export of the Python module records). Non-transposed ones
    become the conv{1,2,3}d a Python export would hold."""
    aten = torch.ops.aten
    by_rank = {1: aten.conv1d.default, 2: aten.conv2d.default, 3: aten.conv3d.default}
    changed = False
    for node in module.graph.nodes:
        if node.op != "call_function" or node.target != aten.convolution.default:
            continue
        x, weight, bias, stride, padding, dilation, transposed, _, groups = node.args[:9]
        if transposed or len(stride) not in by_rank:
            continue
        node.target = by_rank[len(stride)]
        node.args = (x, weight, bias, stride, padding, dilation, groups)
        changed = True
    if changed:
        module.graph.lint()
        module.recompile()


def quantize(torch, module, args, calibration, dynamic=None):
    """PT2E static int8 as PyTorch's X86 recipe: X86InductorQuantizer's
    default config, observers calibrated, converted, exported (with
    `dynamic`, the dynamic_shapes of both exports)."""
    from torch.ao.quantization.quantize_pt2e import convert_pt2e, prepare_pt2e
    import torch.ao.quantization.quantizer.x86_inductor_quantizer as xiq

    captured = torch.export.export_for_training(module, args, dynamic_shapes=dynamic).module()
    weights_as_parameters(torch, captured)
    record_sources(torch, captured)
    quantizer = xiq.X86InductorQuantizer()
    quantizer.set_global(xiq.get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(captured, quantizer)
    with torch.no_grad():
        for batch in calibration:
            prepared(*batch)
    converted = convert_pt2e(prepared)
    return torch.export.export(converted, args, dynamic_shapes=dynamic)


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except StageError as e:
        print(f"inductor compile failed: {e}", file=sys.stderr)
        sys.exit(1)
