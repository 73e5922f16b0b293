//! Raw declarations of csrc/shim.h. Only `native` uses them.
use std::os::raw::{c_char, c_int, c_void};

#[repr(C)]
pub struct ItnModule {
    _private: [u8; 0],
}

pub type ItnTensor = *mut c_void;

#[repr(C)]
pub struct ItnAoti {
    _private: [u8; 0],
}

extern "C" {
    pub fn itn_last_error() -> *const c_char;
    pub fn itn_string_free(s: *mut c_char);
    pub fn itn_torch_build_json() -> *mut c_char;
    pub fn itn_libtorch_path() -> *mut c_char;
    pub fn itn_module_load(path: *const c_char) -> *mut ItnModule;
    pub fn itn_module_load_with_shapes(path: *const c_char) -> *mut ItnModule;
    pub fn itn_module_load_bytes(data: *const c_char, len: usize) -> *mut ItnModule;
    pub fn itn_module_free(m: *mut ItnModule);
    pub fn itn_load_tensor_file(
        data: *const c_char,
        len: usize,
        tensors: *mut *mut ItnTensor,
        batch_of: *mut *mut c_int,
        names: *mut *mut c_char,
        n: *mut c_int,
    ) -> c_int;
    pub fn itn_module_save(m: *const ItnModule, path: *const c_char) -> c_int;
    pub fn itn_module_methods_json(m: *const ItnModule) -> *mut c_char;
    pub fn itn_module_tensors_json(m: *const ItnModule) -> *mut c_char;
    pub fn itn_module_graph_facts_json(m: *const ItnModule, method: *const c_char) -> *mut c_char;
    pub fn itn_module_input_hints_json(m: *const ItnModule, method: *const c_char) -> *mut c_char;
    pub fn itn_module_graph_text(
        m: *const ItnModule,
        method: *const c_char,
        inlined: c_int,
    ) -> *mut c_char;
    pub fn itn_last_executed_graph_text() -> *mut c_char;
    pub fn itn_module_run(
        m: *mut ItnModule,
        method: *const c_char,
        inputs: *mut ItnTensor,
        n_inputs: c_int,
        outputs: *mut *mut ItnTensor,
        n_outputs: *mut c_int,
        structure: *mut *mut c_char,
    ) -> c_int;
    pub fn itn_module_to_dtype(m: *mut ItnModule, scalar_type: c_int) -> c_int;
    pub fn itn_module_conv_weights_channels_last(m: *mut ItnModule) -> c_int;
    pub fn itn_pass_cast_constants(
        m: *mut ItnModule,
        method: *const c_char,
        scalar_type: c_int,
    ) -> c_int;
    pub fn itn_pass_autocast_as_traced(
        m: *mut ItnModule,
        method: *const c_char,
        scalar_type: c_int,
    ) -> c_int;
    pub fn itn_module_set_run_autocast(m: *mut ItnModule, scalar_type: c_int) -> c_int;
    pub fn itn_module_freeze(m: *const ItnModule, method: *const c_char) -> *mut ItnModule;
    pub fn itn_module_copy_attributes(
        from: *const ItnModule,
        to: *mut ItnModule,
        paths: *const c_char,
    ) -> c_int;
    pub fn itn_pass_remove_dropout(m: *mut ItnModule, method: *const c_char) -> c_int;
    pub fn itn_pass_channels_last_inputs(m: *mut ItnModule, method: *const c_char) -> c_int;
    pub fn itn_pass_fold_conv_bn(m: *mut ItnModule, method: *const c_char) -> c_int;
    pub fn itn_pass_mkldnn_prepack(m: *mut ItnModule, method: *const c_char) -> c_int;
    pub fn itn_set_texpr_fuser(enabled: c_int) -> c_int;
    pub fn itn_texpr_fuser_enabled() -> c_int;
    pub fn itn_can_fuse_on_cpu() -> c_int;
    pub fn itn_set_onednn_fuser(enabled: c_int) -> c_int;
    pub fn itn_onednn_fuser_enabled() -> c_int;
    pub fn itn_quantize_dynamic(
        m: *const ItnModule,
        method: *const c_char,
        activation_observer: *const ItnModule,
        weight_observer: *const ItnModule,
        fp32_layers: *const c_char,
    ) -> *mut ItnModule;
    pub fn itn_quantize_static_prepare(
        m: *const ItnModule,
        method: *const c_char,
        activation_observer: *const ItnModule,
        weight_observer: *const ItnModule,
        fp32_layers: *const c_char,
    ) -> *mut ItnModule;
    pub fn itn_quantizable_layers_json(m: *const ItnModule) -> *mut c_char;
    pub fn itn_quantize_static_convert(
        observed: *const ItnModule,
        method: *const c_char,
        qdq: c_int,
    ) -> *mut ItnModule;
    pub fn itn_set_num_threads(n: c_int) -> c_int;
    pub fn itn_get_num_threads() -> c_int;
    pub fn itn_set_call_arguments(plan: *const c_char) -> c_int;
    pub fn itn_profile_start() -> c_int;
    pub fn itn_profile_stop_json() -> *mut c_char;
    pub fn itn_module_instrument_nodes(
        m: *const ItnModule,
        method: *const c_char,
    ) -> *mut ItnModule;
    pub fn itn_aoti_load(path: *const c_char, single_threaded: c_int) -> *mut ItnAoti;
    pub fn itn_aoti_free(p: *mut ItnAoti);
    pub fn itn_aoti_run(
        p: *mut ItnAoti,
        inputs: *mut ItnTensor,
        n_inputs: c_int,
        outputs: *mut *mut ItnTensor,
        n_outputs: *mut c_int,
    ) -> c_int;
}
