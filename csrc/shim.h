// ipex-tune's C ABI over the libtorch functions that the `tch` crate does not
// expose (module handles, freezing, the frozen-graph passes, fusers, graph-mode
// quantization, graph facts).
//
// Conventions (the same as tch's torch_api):
// - every entry point catches every C++ exception, stores its message in a
//   thread-local and returns a failure value (NULL or -1); the Rust wrapper
//   reads itn_last_error() after each call;
// - handles (itn_module*) are owned by the caller and freed with
//   itn_module_free; strings returned as char* are freed with itn_string_free;
// - tensors cross as `at::Tensor*` (tch's C_tensor): inputs are borrowed,
//   outputs are new heap tensors that the caller owns (tch::Tensor::from_ptr).
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct itn_module itn_module;
typedef void* itn_tensor; // at::Tensor*

const char* itn_last_error(void);
void itn_string_free(char* s);

// Build and process facts as JSON: version, show_config, parallel info, ...
char* itn_torch_build_json(void);
// Path of the loaded libtorch_cpu.so (found with dladdr).
char* itn_libtorch_path(void);

itn_module* itn_module_load(const char* path);
// As itn_module_load, with the input sizes a traced module was traced with
// as its graph's input types (for reading facts; trials load without them).
itn_module* itn_module_load_with_shapes(const char* path);
// Loads a TorchScript archive held in memory (e.g. assets embedded in the binary).
itn_module* itn_module_load_bytes(const char* data, size_t len);
void itn_module_free(itn_module* m);
// Tensors of a torch.save file (see shim.cpp); arrays malloc'd, freed by the caller.
int itn_load_tensor_file(const char* data, size_t len, itn_tensor** tensors, int** batch_of, char** names,
                         int* n);
// Saves the module (TorchScript archive) to `path`. 0 ok, -1 error.
int itn_module_save(const itn_module* m, const char* path);
// Methods with their schemas: [{"name","arguments":[{"name","type"}],"returns":[...],"schema"}].
char* itn_module_methods_json(const itn_module* m);
// Parameters and buffers: {"parameters":[{"name","dtype","numel","bytes"}], "buffers":[...]}.
char* itn_module_tensors_json(const itn_module* m);
// Facts of a method's inlined graph: op histogram over all nested blocks and
// control-flow facts. See graph_facts() in shim.cpp for the fields.
char* itn_module_graph_facts_json(const itn_module* m, const char* method);
// The method's graph as text; inlined when `inlined` is non-zero.
// JSON list, one entry per tensor input of `method` after self: the sizes a
// traced graph recorded, and what the first consumer fixes (dim/size, or the
// id bound of an embedding).
char* itn_module_input_hints_json(const itn_module* m, const char* method);
char* itn_module_graph_text(const itn_module* m, const char* method, int inlined);
// The optimized graph that the last run on this thread executed.
char* itn_last_executed_graph_text(void);

// Runs `method` on borrowed input tensors. Outputs (a tensor, or tuples/lists
// of tensors, flattened depth-first) are written to *outputs (malloc'd array
// of new tensors, freed by the caller with free()); *structure receives a
// malloc'd description such as "tuple(tensor,tensor)".
int itn_module_run(itn_module* m, const char* method, itn_tensor* inputs, int n_inputs,
                   itn_tensor** outputs, int* n_outputs, char** structure);

// module.to(dtype) (dtype: at::ScalarType as int).
int itn_module_to_dtype(itn_module* m, int scalar_type);
// The weights of the module's 2-D and 3-D (transposed) convolutions to
// channels-last memory; 1 if any changed.
int itn_module_conv_weights_channels_last(itn_module* m);
// Floating tensor constants and float32 dtype arguments of the method's graph
// to scalar_type; 1 if the graph changed.
int itn_pass_cast_constants(itn_module* m, const char* method, int scalar_type);
// The method's graph (frozen) as torch.autocast(scalar_type) + trace records
// it from a model ipex.optimize(dtype=bf16) cast: bf16 conv/linear/embedding
// weights, casts where autocast makes them; 1 if the graph changed.
int itn_pass_autocast_as_traced(itn_module* m, const char* method, int scalar_type);
// Every later itn_module_run of this module runs under CPU autocast to
// scalar_type (as torch.autocast("cpu", dtype) around the call).
int itn_module_set_run_autocast(itn_module* m, int scalar_type);

// The attributes at `paths` (dotted from self, one per line) deep-copied
// from `from` into `to` (a stateful model's state, back to how it loaded);
// paths `to` lacks are skipped. Returns how many were copied, -1 on error.
int itn_module_copy_attributes(const itn_module* from, itn_module* to, const char* paths);

// torch::jit::freeze_module preserving `method` (plus `forward` if present),
// without the numerics passes (those are separate switches below).
itn_module* itn_module_freeze(const itn_module* m, const char* method);

// The frozen-graph passes of torch::jit::freeze / optimize_for_inference, as
// separate switches acting on one method's graph. Return 1 if the graph
// changed, 0 if not, -1 on error.
int itn_pass_remove_dropout(itn_module* m, const char* method);
// 4-D inputs of the method that feed a 2-D convolution to channels-last
// memory in the graph (for channels-last weights); 1 if the graph changed.
int itn_pass_channels_last_inputs(itn_module* m, const char* method);
int itn_pass_fold_conv_bn(itn_module* m, const char* method);
int itn_pass_mkldnn_prepack(itn_module* m, const char* method);

// Fusers. Setters return the previous state, or -1 on error.
int itn_set_texpr_fuser(int enabled);
int itn_texpr_fuser_enabled(void);
int itn_can_fuse_on_cpu(void);
int itn_set_onednn_fuser(int enabled);
int itn_onednn_fuser_enabled(void);

// Graph-mode dynamic int8 quantization of Linear/LSTM (what Python's
// torch.ao.quantization.quantize_dynamic_jit does), with scripted observer
// modules for activations and weights. Returns a new, frozen module.
// `fp32_layers`: newline-separated submodule names (e.g. "encoder.0.fc")
// whose ops stay fp32 (qconfig None); "" quantizes every layer.
itn_module* itn_quantize_dynamic(const itn_module* m, const char* method,
                                 const itn_module* activation_observer,
                                 const itn_module* weight_observer, const char* fp32_layers);

// Graph-mode static int8 quantization, in two steps around calibration:
// prepare inserts observers (the module then records activation ranges when
// its method runs on calibration inputs); convert computes the quantization
// parameters, inserts quantize/dequantize and fuses quantized ops. Both
// return new modules; convert's result is frozen.
itn_module* itn_quantize_static_prepare(const itn_module* m, const char* method,
                                        const itn_module* activation_observer,
                                        const itn_module* weight_observer, const char* fp32_layers);
// JSON list of the submodules (qualified names, module order) whose own
// methods call an op graph-mode quantization rewrites (conv, linear, matmul,
// LSTM/GRU, embedding_bag): the layers an int8 fallback can keep in fp32.
char* itn_quantizable_layers_json(const itn_module* m);
itn_module* itn_quantize_static_convert(const itn_module* observed, const char* method, int qdq);

int itn_set_num_threads(int n);
int itn_get_num_threads(void);

// The call of every later itn_module_run in this process, one line per
// argument (self left out): "tensor" (the run's next input tensor), "int N",
// "float X", "bool 0|1", "str TEXT", "none", "default" (the schema's
// default), "list N" / "tuple N" (the next N input tensors as a
// List[Tensor] / Tuple), "dict K1 K2 ..." (the next input tensor per key, as
// a Dict[str, Tensor]). An empty plan: the input tensors are the arguments.
int itn_set_call_arguments(const char* plan);

// Per-op profile through libtorch's RecordFunction callbacks: between start
// and stop, every operator call that is not inside another operator call on
// its thread (the graph's own ops, not the kernels they call) is timed and
// aggregated by name and input shapes. stop returns JSON:
// [{"name","shapes":[[...],...],"dtypes":[...],"calls","total_ns"}], and
// removes the callback. 0 / non-NULL on success.
int itn_profile_start(void);
char* itn_profile_stop_json(void);
// A copy of the module whose `method` graph wraps every top-level node in
// profiler::_record_function_enter_new / _record_function_exit, named
// "KIND#INDEX": the per-node profile then sees ops the dispatcher never
// does (JIT-internal ones such as prim::mkldnn_convolution).
itn_module* itn_module_instrument_nodes(const itn_module* m, const char* method);

// The inductor backend (aoti.cpp): a package AOTInductor compiled (.pt2),
// loaded with libtorch's AOTIModelPackageLoader. single_threaded: the
// loader's run_single_threaded. Freed with itn_aoti_free.
typedef struct itn_aoti itn_aoti;
itn_aoti* itn_aoti_load(const char* path, int single_threaded);
void itn_aoti_free(itn_aoti* p);
// Runs the package on borrowed inputs; outputs as itn_module_run's (a
// malloc'd array of new tensors, in the package's flattened output order).
int itn_aoti_run(itn_aoti* p, itn_tensor* inputs, int n_inputs, itn_tensor** outputs, int* n_outputs);

#ifdef __cplusplus
}
#endif
