//! The only place with `unsafe`: a safe wrapper over the C++ shim (csrc/),
//! dynamic loading, and the few libc calls ipex-tune needs.
//!
//! Every shim call is followed by a read of the shim's thread-local error
//! (FFI discipline as in tch-rs): a failure becomes a [`TorchError`] carrying
//! libtorch's message; every handle is owned by a Rust value whose `Drop`
//! frees it.
#![allow(unsafe_code)]

mod aoti;
mod ffi;
pub mod os;

pub use aoti::AotiPackage;

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int};
use std::path::Path;
use std::ptr::NonNull;

/// An error raised inside libtorch (or the shim), with its message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct TorchError(pub String);

impl TorchError {
    /// The line of libtorch's message that says what failed. C++ errors
    /// often append context lines (graph dumps, "Exception raised from
    /// ...") that a user does not need: the first line says it. But the
    /// TorchScript interpreter's first line is only "The following
    /// operation failed in the TorchScript interpreter."; the cause is the
    /// last `...Error: ` line of the traceback after it (e.g. the
    /// allocator's "can't allocate memory").
    pub fn headline(&self) -> &str {
        let mut lines = self.0.lines().map(str::trim).filter(|l| !l.is_empty());
        let first = lines.next().unwrap_or("");
        if !first.starts_with("The following operation failed in the TorchScript interpreter") {
            return first;
        }
        let is_error = |l: &&str| {
            l.split_once(": ")
                .is_some_and(|(head, _)| head.ends_with("Error") && !head.contains(' '))
        };
        lines.rfind(is_error).unwrap_or(first)
    }
}

type Result<T> = std::result::Result<T, TorchError>;

fn last_error(what: &str) -> TorchError {
    // SAFETY: the shim returns NULL or a pointer to its thread-local string,
    // valid until the next shim call on this thread; we copy it at once.
    let message = unsafe {
        let p = ffi::itn_last_error();
        if p.is_null() {
            format!("{what} failed without a message")
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    };
    TorchError(message)
}

/// Takes ownership of a malloc'd string returned by the shim.
fn owned_string(p: *mut c_char, what: &str) -> Result<String> {
    if p.is_null() {
        return Err(last_error(what));
    }
    // SAFETY: non-null strings from the shim are NUL-terminated and malloc'd;
    // we copy then free exactly once.
    unsafe {
        let s = CStr::from_ptr(p).to_string_lossy().into_owned();
        ffi::itn_string_free(p);
        Ok(s)
    }
}

fn check_status(status: c_int, what: &str) -> Result<c_int> {
    if status < 0 {
        Err(last_error(what))
    } else {
        Ok(status)
    }
}

fn c_string(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| TorchError(format!("{s:?} contains a NUL byte")))
}

/// Takes ownership of the output tensors a shim call made.
///
/// # Safety
/// `outputs` is a malloc'd array of `n` tensors each created with `new`
/// (as itn_module_run and itn_aoti_run make them), used by nothing else.
unsafe fn owned_tensors(outputs: *mut ffi::ItnTensor, n: c_int) -> Vec<tch::Tensor> {
    // SAFETY: the caller's contract; tch frees each tensor on drop, and the
    // array itself is freed here once.
    unsafe {
        let tensors = (0..n.max(0) as usize)
            .map(|i| tch::Tensor::from_ptr((*outputs.add(i)).cast()))
            .collect();
        libc::free(outputs.cast());
        tensors
    }
}

/// Element types a whole module can be cast to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleDtype {
    BFloat16,
}

impl ModuleDtype {
    /// c10::ScalarType values.
    fn scalar_type(self) -> c_int {
        match self {
            ModuleDtype::BFloat16 => 15,
        }
    }
}

/// A TorchScript module loaded by the shim (a `torch::jit::Module`).
pub struct Module {
    ptr: NonNull<ffi::ItnModule>,
}

// SAFETY: torch::jit::Module is a reference-counted handle; moving it between
// threads is safe, and running methods concurrently is how libtorch serves
// inference from several threads (IPEX's multi-stream module does the same).
unsafe impl Send for Module {}
unsafe impl Sync for Module {}

impl Drop for Module {
    fn drop(&mut self) {
        // SAFETY: the pointer came from the shim and is freed once.
        unsafe { ffi::itn_module_free(self.ptr.as_ptr()) }
    }
}

/// Outputs of one method call: tensors flattened depth-first, and their
/// structure (e.g. `tuple(tensor,tensor)`).
pub struct Outputs {
    pub tensors: Vec<tch::Tensor>,
    pub structure: String,
}

impl Module {
    fn from_raw(p: *mut ffi::ItnModule, what: &str) -> Result<Module> {
        NonNull::new(p)
            .map(|ptr| Module { ptr })
            .ok_or_else(|| last_error(what))
    }

    /// Loads a TorchScript file (on CPU, in eval mode).
    pub fn load(path: &Path) -> Result<Module> {
        let c_path = c_string(&path.to_string_lossy())?;
        // SAFETY: valid C string; ownership of the returned handle is ours.
        Module::from_raw(unsafe { ffi::itn_module_load(c_path.as_ptr()) }, "loading")
    }

    /// Loads a TorchScript file with the sizes it was traced with as its
    /// graph's input types (a traced module stores its example inputs).
    pub fn load_with_traced_shapes(path: &Path) -> Result<Module> {
        let c_path = c_string(&path.to_string_lossy())?;
        // SAFETY: as `load`.
        Module::from_raw(
            unsafe { ffi::itn_module_load_with_shapes(c_path.as_ptr()) },
            "loading",
        )
    }

    /// Loads a TorchScript archive from memory.
    pub fn load_bytes(bytes: &[u8]) -> Result<Module> {
        // SAFETY: pointer and length describe a live slice.
        Module::from_raw(
            unsafe { ffi::itn_module_load_bytes(bytes.as_ptr().cast(), bytes.len()) },
            "loading",
        )
    }

    /// Methods and their schemas, as JSON (see model::facts for the shape).
    pub fn methods_json(&self) -> Result<String> {
        // SAFETY: self.ptr is live.
        owned_string(
            unsafe { ffi::itn_module_methods_json(self.ptr.as_ptr()) },
            "listing methods",
        )
    }

    /// Parameters and buffers (name, dtype, numel, bytes), as JSON.
    pub fn tensors_json(&self) -> Result<String> {
        // SAFETY: self.ptr is live.
        owned_string(
            unsafe { ffi::itn_module_tensors_json(self.ptr.as_ptr()) },
            "listing parameters",
        )
    }

    /// Op histogram and control-flow facts of a method's inlined graph, as JSON.
    pub fn graph_facts_json(&self, method: &str) -> Result<String> {
        let m = c_string(method)?;
        // SAFETY: self.ptr is live, m is a valid C string.
        owned_string(
            unsafe { ffi::itn_module_graph_facts_json(self.ptr.as_ptr(), m.as_ptr()) },
            "reading the graph",
        )
    }

    /// What the model says about its inputs' sizes (traced sizes, first
    /// consumers' features/channels/vocabulary), as JSON.
    pub fn input_hints_json(&self, method: &str) -> Result<String> {
        let m = c_string(method)?;
        // SAFETY: self.ptr is live, m is a valid C string; the shim freezes a copy.
        owned_string(
            unsafe { ffi::itn_module_input_hints_json(self.ptr.as_ptr(), m.as_ptr()) },
            "reading the inputs' sizes",
        )
    }

    /// A copy whose `method` wraps every top-level graph node in a named
    /// RecordFunction ("KIND#INDEX"), for the per-node profile.
    pub fn instrumented(&self, method: &str) -> Result<Module> {
        let m = c_string(method)?;
        // SAFETY: self.ptr is live; the result is a new owned module.
        Module::from_raw(
            unsafe { ffi::itn_module_instrument_nodes(self.ptr.as_ptr(), m.as_ptr()) },
            "instrumenting the graph for the profile",
        )
    }

    /// The layers (qualified submodule names, module order) that call an op
    /// graph-mode quantization rewrites: what an int8 fallback can keep fp32.
    pub fn quantizable_layers(&self) -> Result<Vec<String>> {
        // SAFETY: self.ptr is live.
        let json = owned_string(
            unsafe { ffi::itn_quantizable_layers_json(self.ptr.as_ptr()) },
            "listing the quantizable layers",
        )?;
        serde_json::from_str(&json).map_err(|e| TorchError(format!("the shim's layer list: {e}")))
    }

    /// A method's graph as text (inlined, or as stored).
    pub fn graph_text(&self, method: &str, inlined: bool) -> Result<String> {
        let m = c_string(method)?;
        // SAFETY: as above.
        owned_string(
            unsafe {
                ffi::itn_module_graph_text(self.ptr.as_ptr(), m.as_ptr(), c_int::from(inlined))
            },
            "printing the graph",
        )
    }

    /// Runs a method on tensors (under no_grad).
    pub fn run(&self, method: &str, inputs: &[tch::Tensor]) -> Result<Outputs> {
        let m = c_string(method)?;
        let mut raw_inputs: Vec<ffi::ItnTensor> = inputs
            .iter()
            .map(|t| t.as_ptr() as ffi::ItnTensor)
            .collect();
        let mut outputs: *mut ffi::ItnTensor = std::ptr::null_mut();
        let mut n_outputs: c_int = 0;
        let mut structure: *mut c_char = std::ptr::null_mut();
        // SAFETY: input tensors are borrowed for the call; on success the shim
        // hands us a malloc'd array of new at::Tensor* that we own.
        let status = unsafe {
            ffi::itn_module_run(
                self.ptr.as_ptr(),
                m.as_ptr(),
                raw_inputs.as_mut_ptr(),
                raw_inputs.len() as c_int,
                &mut outputs,
                &mut n_outputs,
                &mut structure,
            )
        };
        check_status(status, "running the method")?;
        // SAFETY: on success the shim filled `outputs` as owned_tensors needs.
        let tensors = unsafe { owned_tensors(outputs, n_outputs) };
        Ok(Outputs {
            tensors,
            structure: owned_string(structure, "output structure")?,
        })
    }

    /// Floating tensor constants and float32 `dtype` arguments of the
    /// method's graph to `dtype` (pure bf16 on a frozen graph). Returns
    /// whether the graph changed.
    pub fn cast_constants(&mut self, method: &str, dtype: ModuleDtype) -> Result<bool> {
        let m = c_string(method)?;
        // SAFETY: self.ptr is live; the pass mutates the method's graph.
        check_status(
            unsafe {
                ffi::itn_pass_cast_constants(self.ptr.as_ptr(), m.as_ptr(), dtype.scalar_type())
            },
            "casting graph constants",
        )
        .map(|s| s == 1)
    }

    /// The method's graph (frozen) as `torch.autocast(dtype)` + trace
    /// records it from a model `ipex.optimize(dtype=bf16)` cast: bf16
    /// conv/linear/embedding weights, and casts only where autocast makes
    /// them. Returns whether the graph changed.
    pub fn autocast_as_traced(&mut self, method: &str, dtype: ModuleDtype) -> Result<bool> {
        let m = c_string(method)?;
        // SAFETY: self.ptr is live; the pass mutates the method's graph.
        check_status(
            unsafe {
                ffi::itn_pass_autocast_as_traced(self.ptr.as_ptr(), m.as_ptr(), dtype.scalar_type())
            },
            "autocast",
        )
        .map(|s| s == 1)
    }

    /// Every later run of this module is under CPU autocast to `dtype`, as
    /// `with torch.autocast("cpu", dtype)` around the call.
    pub fn run_under_autocast(&mut self, dtype: ModuleDtype) -> Result<()> {
        // SAFETY: self.ptr is live.
        check_status(
            unsafe { ffi::itn_module_set_run_autocast(self.ptr.as_ptr(), dtype.scalar_type()) },
            "autocast",
        )
        .map(|_| ())
    }

    /// Casts floating-point parameters and buffers (Python's module.to(dtype));
    /// integer buffers stay as they are.
    pub fn cast(&mut self, dtype: ModuleDtype) -> Result<()> {
        // SAFETY: self.ptr is live.
        check_status(
            unsafe { ffi::itn_module_to_dtype(self.ptr.as_ptr(), dtype.scalar_type()) },
            "casting the module",
        )
        .map(|_| ())
    }

    /// Convolution weights (2-D and 3-D, transposed too) to channels-last
    /// memory, as ipex.optimize does; returns whether any changed.
    pub fn conv_weights_channels_last(&mut self) -> Result<bool> {
        // SAFETY: self.ptr is live.
        check_status(
            unsafe { ffi::itn_module_conv_weights_channels_last(self.ptr.as_ptr()) },
            "channels-last convolution weights",
        )
        .map(|s| s == 1)
    }

    /// The attributes at `paths` (dotted from self) deep-copied from this
    /// module into `to`, skipping paths `to` lacks: a stateful model's state
    /// put back as it loaded. Returns how many were copied.
    pub fn copy_attributes_to(&self, to: &Module, paths: &[String]) -> Result<usize> {
        let p = c_string(&paths.join("\n"))?;
        // SAFETY: both pointers are live; `to` is only written between calls
        // (the timed loop is over), as its graph passes are.
        check_status(
            unsafe {
                ffi::itn_module_copy_attributes(self.ptr.as_ptr(), to.ptr.as_ptr(), p.as_ptr())
            },
            "restoring the model's state",
        )
        .map(|n| n as usize)
    }

    /// `torch::jit::freeze_module`, preserving `method`; no numerics passes.
    pub fn freeze(&self, method: &str) -> Result<Module> {
        let m = c_string(method)?;
        // SAFETY: as above.
        Module::from_raw(
            unsafe { ffi::itn_module_freeze(self.ptr.as_ptr(), m.as_ptr()) },
            "freezing",
        )
    }

    fn graph_pass(
        &mut self,
        method: &str,
        pass: unsafe extern "C" fn(*mut ffi::ItnModule, *const c_char) -> c_int,
        what: &str,
    ) -> Result<bool> {
        let m = c_string(method)?;
        // SAFETY: self.ptr is live; the pass mutates the method's graph.
        check_status(unsafe { pass(self.ptr.as_ptr(), m.as_ptr()) }, what).map(|s| s == 1)
    }

    /// Writes the module as a TorchScript archive.
    pub fn save(&self, path: &Path) -> Result<()> {
        let p = c_string(&path.display().to_string())?;
        // SAFETY: self.ptr is live; the shim only reads the module.
        check_status(
            unsafe { ffi::itn_module_save(self.ptr.as_ptr(), p.as_ptr()) },
            "saving the module",
        )
        .map(|_| ())
    }

    /// Removes dropout nodes. Returns whether the graph changed.
    pub fn remove_dropout(&mut self, method: &str) -> Result<bool> {
        self.graph_pass(method, ffi::itn_pass_remove_dropout, "dropout removal")
    }

    /// 4-D inputs that feed a convolution to channels-last memory, in the
    /// graph. Returns whether the graph changed.
    pub fn channels_last_inputs(&mut self, method: &str) -> Result<bool> {
        self.graph_pass(
            method,
            ffi::itn_pass_channels_last_inputs,
            "channels-last inputs",
        )
    }

    /// Frozen conv/linear-bn (and conv-add/mul) folding on any method.
    pub fn fold_conv_bn(&mut self, method: &str) -> Result<bool> {
        self.graph_pass(method, ffi::itn_pass_fold_conv_bn, "conv-bn folding")
    }

    /// oneDNN (MKLDNN) weight prepacking, as optimize_for_inference does.
    pub fn mkldnn_prepack(&mut self, method: &str) -> Result<bool> {
        self.graph_pass(method, ffi::itn_pass_mkldnn_prepack, "oneDNN prepacking")
    }

    /// Graph-mode dynamic int8 quantization (Linear/LSTM), returning a new
    /// frozen module; the submodules named in `fp32_layers` stay fp32.
    pub fn quantize_dynamic(
        &self,
        method: &str,
        activation_observer: &Module,
        weight_observer: &Module,
        fp32_layers: &[String],
    ) -> Result<Module> {
        let m = c_string(method)?;
        let layers = c_string(&fp32_layers.join("\n"))?;
        // SAFETY: all handles are live for the call.
        Module::from_raw(
            unsafe {
                ffi::itn_quantize_dynamic(
                    self.ptr.as_ptr(),
                    m.as_ptr(),
                    activation_observer.ptr.as_ptr(),
                    weight_observer.ptr.as_ptr(),
                    layers.as_ptr(),
                )
            },
            "dynamic quantization",
        )
    }
}

impl Module {
    /// Static int8, step 1: a copy with observers inserted (run it on
    /// calibration inputs next); the submodules named in `fp32_layers` get
    /// none and stay fp32.
    pub fn quantize_static_prepare(
        &self,
        method: &str,
        activation_observer: &Module,
        weight_observer: &Module,
        fp32_layers: &[String],
    ) -> Result<Module> {
        let m = c_string(method)?;
        let layers = c_string(&fp32_layers.join("\n"))?;
        // SAFETY: all handles are live for the call.
        Module::from_raw(
            unsafe {
                ffi::itn_quantize_static_prepare(
                    self.ptr.as_ptr(),
                    m.as_ptr(),
                    activation_observer.ptr.as_ptr(),
                    weight_observer.ptr.as_ptr(),
                    layers.as_ptr(),
                )
            },
            "static quantization (prepare)",
        )
    }

    /// Static int8, step 2: the calibrated module converted and frozen.
    /// `qdq`: keep quantize/dequantize pairs around fp32 ops (for IPEX's
    /// fusion passes) instead of libtorch's quantized ops.
    pub fn quantize_static_convert(&self, method: &str, qdq: bool) -> Result<Module> {
        let m = c_string(method)?;
        // SAFETY: self is live.
        Module::from_raw(
            unsafe {
                ffi::itn_quantize_static_convert(self.ptr.as_ptr(), m.as_ptr(), c_int::from(qdq))
            },
            "static quantization (convert)",
        )
    }
}

/// libtorch's build as JSON (version, MKLDNN, OpenMP, show_config, ...).
/// The tensors of a file written by Python's `torch.save`: (batch index,
/// argument name or "", tensor) in file order.
pub fn load_tensor_file(bytes: &[u8]) -> Result<Vec<(usize, String, tch::Tensor)>> {
    let mut tensors: *mut ffi::ItnTensor = std::ptr::null_mut();
    let mut batch_of: *mut c_int = std::ptr::null_mut();
    let mut names: *mut c_char = std::ptr::null_mut();
    let mut n: c_int = 0;
    // SAFETY: pointer and length describe a live slice; on success the shim
    // hands us malloc'd arrays of n entries (tensors created with `new`).
    let status = unsafe {
        ffi::itn_load_tensor_file(
            bytes.as_ptr().cast(),
            bytes.len(),
            &mut tensors,
            &mut batch_of,
            &mut names,
            &mut n,
        )
    };
    check_status(status, "reading the tensors")?;
    let names = owned_string(names, "tensor names")?;
    // SAFETY: as above; tch frees each tensor on drop, we free the arrays.
    let out = unsafe {
        let out = (0..n as usize)
            .zip(names.split('\n'))
            .map(|(i, name)| {
                (
                    *batch_of.add(i) as usize,
                    name.to_string(),
                    tch::Tensor::from_ptr((*tensors.add(i)).cast()),
                )
            })
            .collect();
        libc::free(tensors.cast());
        libc::free(batch_of.cast());
        out
    };
    Ok(out)
}

pub fn torch_build_json() -> Result<String> {
    // SAFETY: no arguments; returns an owned string or NULL.
    owned_string(
        unsafe { ffi::itn_torch_build_json() },
        "reading the torch build",
    )
}

/// Path of the libtorch_cpu.so this process loaded.
pub fn libtorch_path() -> Result<String> {
    // SAFETY: as above.
    owned_string(unsafe { ffi::itn_libtorch_path() }, "locating libtorch")
}

/// The optimized graph the last method call on this thread executed.
pub fn last_executed_graph() -> Result<String> {
    // SAFETY: as above.
    owned_string(
        unsafe { ffi::itn_last_executed_graph_text() },
        "reading the executed graph",
    )
}

/// Enables or disables the TensorExpr (NNC) fuser and CPU fusion; returns the previous state.
pub fn set_texpr_fuser(enabled: bool) -> Result<bool> {
    // SAFETY: plain call.
    check_status(
        unsafe { ffi::itn_set_texpr_fuser(c_int::from(enabled)) },
        "texpr fuser",
    )
    .map(|s| s == 1)
}

pub fn texpr_fuser_enabled() -> Result<bool> {
    // SAFETY: plain call.
    check_status(unsafe { ffi::itn_texpr_fuser_enabled() }, "texpr fuser").map(|s| s == 1)
}

pub fn can_fuse_on_cpu() -> Result<bool> {
    // SAFETY: plain call.
    check_status(unsafe { ffi::itn_can_fuse_on_cpu() }, "cpu fusion").map(|s| s == 1)
}

/// Enables or disables the oneDNN Graph (LLGA) fuser; returns the previous state.
pub fn set_onednn_fuser(enabled: bool) -> Result<bool> {
    // SAFETY: plain call.
    check_status(
        unsafe { ffi::itn_set_onednn_fuser(c_int::from(enabled)) },
        "oneDNN Graph fuser",
    )
    .map(|s| s == 1)
}

pub fn onednn_fuser_enabled() -> Result<bool> {
    // SAFETY: plain call.
    check_status(
        unsafe { ffi::itn_onednn_fuser_enabled() },
        "oneDNN Graph fuser",
    )
    .map(|s| s == 1)
}

/// at::set_num_threads. Set once per process, before any prepacking (Known
/// Issues: oneDNN layouts depend on the OpenMP thread count).
pub fn set_num_threads(n: usize) -> Result<()> {
    // SAFETY: plain call.
    check_status(
        unsafe { ffi::itn_set_num_threads(n as c_int) },
        "setting threads",
    )
    .map(|_| ())
}

/// One operator kind and input shapes, timed by [`profile_stop`]: the
/// graph's own ops (not the kernels they call), all threads together.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct OpTiming {
    pub name: String,
    pub shapes: Vec<Vec<i64>>,
    pub dtypes: Vec<String>,
    /// The outputs' sizes (of the first call with these inputs).
    #[serde(default)]
    pub out_shapes: Vec<Vec<i64>>,
    pub calls: u64,
    pub total_ns: u64,
}

/// Starts timing every operator call (libtorch's RecordFunction callbacks).
pub fn profile_start() -> Result<()> {
    // SAFETY: plain call.
    check_status(
        unsafe { ffi::itn_profile_start() },
        "starting the op profile",
    )
    .map(|_| ())
}

/// Stops the profile started by [`profile_start`] and returns its timings.
pub fn profile_stop() -> Result<Vec<OpTiming>> {
    // SAFETY: plain call; the string is owned by us.
    let json = owned_string(
        unsafe { ffi::itn_profile_stop_json() },
        "stopping the op profile",
    )?;
    serde_json::from_str(&json).map_err(|e| TorchError(format!("the shim's op profile: {e}")))
}

/// The call of every later [`Module::run`] in this process (see
/// `itn_set_call_arguments` in csrc/shim.h): values for the non-tensor
/// arguments and defaults around the run's tensors.
pub fn set_call_arguments(plan: &str) -> Result<()> {
    let plan = c_string(plan)?;
    // SAFETY: the shim copies what it reads from the borrowed string.
    check_status(
        unsafe { ffi::itn_set_call_arguments(plan.as_ptr()) },
        "setting the call's arguments",
    )
    .map(|_| ())
}

pub fn num_threads() -> Result<usize> {
    // SAFETY: plain call.
    check_status(unsafe { ffi::itn_get_num_threads() }, "reading threads").map(|n| n as usize)
}

#[cfg(test)]
mod tests {
    use super::TorchError;

    #[test]
    fn the_headline_is_the_cause_not_the_interpreters_preamble() {
        let interpreter = TorchError(
            "The following operation failed in the TorchScript interpreter.\n\
             Traceback of TorchScript (most recent call last):\n\
             RuntimeError: [enforce fail at alloc_cpu.cpp:118] data. DefaultCPUAllocator: can't allocate memory\n"
                .into(),
        );
        assert!(interpreter
            .headline()
            .starts_with("RuntimeError: [enforce fail"));
        let plain = TorchError("expected 3 inputs\nException raised from run at x.cpp:1".into());
        assert_eq!(plain.headline(), "expected 3 inputs");
        let bare =
            TorchError("The following operation failed in the TorchScript interpreter.".into());
        assert_eq!(bare.headline(), bare.0);
    }
}
