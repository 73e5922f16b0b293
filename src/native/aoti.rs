//! An AOTInductor package (the inductor backend's compiled model) loaded
//! with libtorch's `AOTIModelPackageLoader` (csrc/aoti.cpp).
use std::os::raw::c_int;
use std::path::Path;
use std::ptr::NonNull;

use super::{c_string, check_status, ffi, last_error, owned_tensors, Result};

/// A loaded `.pt2` package: compiled kernels and their weights.
pub struct AotiPackage {
    ptr: NonNull<ffi::ItnAoti>,
}

// SAFETY: the loader's runner serves concurrent runs (AOTInductor's model
// container hands each call a free model instance, guarded by its own lock).
unsafe impl Send for AotiPackage {}
unsafe impl Sync for AotiPackage {}

impl Drop for AotiPackage {
    fn drop(&mut self) {
        // SAFETY: the pointer came from the shim and is freed once.
        unsafe { ffi::itn_aoti_free(self.ptr.as_ptr()) }
    }
}

impl AotiPackage {
    /// Loads the package at `path` (its shared library is extracted to a
    /// temporary folder and dlopened).
    pub fn load(path: &Path) -> Result<AotiPackage> {
        let c_path = c_string(&path.to_string_lossy())?;
        // SAFETY: valid C string; ownership of the returned handle is ours.
        let raw = unsafe { ffi::itn_aoti_load(c_path.as_ptr(), 0) };
        NonNull::new(raw)
            .map(|ptr| AotiPackage { ptr })
            .ok_or_else(|| last_error("loading the AOTInductor package"))
    }

    /// Runs the compiled model; outputs in the package's flattened order.
    pub fn run(&self, inputs: &[tch::Tensor]) -> Result<Vec<tch::Tensor>> {
        let mut raw_inputs: Vec<ffi::ItnTensor> = inputs
            .iter()
            .map(|t| t.as_ptr() as ffi::ItnTensor)
            .collect();
        let mut outputs: *mut ffi::ItnTensor = std::ptr::null_mut();
        let mut n_outputs: c_int = 0;
        // SAFETY: inputs are borrowed for the call; on success the shim
        // hands us a malloc'd array of new at::Tensor* that we own.
        let status = unsafe {
            ffi::itn_aoti_run(
                self.ptr.as_ptr(),
                raw_inputs.as_mut_ptr(),
                raw_inputs.len() as c_int,
                &mut outputs,
                &mut n_outputs,
            )
        };
        check_status(status, "running the AOTInductor package")?;
        // SAFETY: on success the shim filled `outputs` as owned_tensors needs.
        Ok(unsafe { owned_tensors(outputs, n_outputs) })
    }
}
