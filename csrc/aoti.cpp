// The inductor backend's runtime: a package compiled ahead of time by
// AOTInductor (a .pt2 file made by torch._inductor.aoti_compile_and_package)
// loaded with libtorch's AOTIModelPackageLoader and run on tensors. The
// package holds the compiled kernels and the (frozen) weights; nothing of
// the TorchScript interpreter runs.
#include "internal.h"

#include <ATen/cpu/Utils.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>

#include <vector>

struct itn_aoti {
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader;
};

using itn::guarded;

extern "C" {

itn_aoti* itn_aoti_load(const char* path, int single_threaded) {
  return guarded<itn_aoti*>(nullptr, [&]() {
    // Max-autotune's C++ GEMM templates use AMX tiles directly (not through
    // oneDNN, which asks the kernel for them itself): without the process's
    // AMX permission (arch_prctl ARCH_REQ_XCOMP_PERM) their first tile
    // instruction is SIGILL. Python's Inductor asks at import; here, before
    // any package runs. A no-op on CPUs without AMX.
    at::cpu::init_amx();
    auto handle = std::make_unique<itn_aoti>();
    handle->loader =
        std::make_unique<torch::inductor::AOTIModelPackageLoader>(path, "model", single_threaded != 0);
    return handle.release();
  });
}

void itn_aoti_free(itn_aoti* p) { delete p; }

int itn_aoti_run(itn_aoti* p, itn_tensor* inputs, int n_inputs, itn_tensor** outputs, int* n_outputs) {
  return guarded<int>(-1, [&]() {
    c10::NoGradGuard no_grad;
    std::vector<at::Tensor> args;
    args.reserve(n_inputs);
    for (int i = 0; i < n_inputs; ++i) {
      args.push_back(*static_cast<at::Tensor*>(inputs[i]));
    }
    auto results = p->loader->run(args);
    *n_outputs = static_cast<int>(results.size());
    *outputs = static_cast<itn_tensor*>(std::malloc(sizeof(itn_tensor) * (results.empty() ? 1 : results.size())));
    TORCH_CHECK(*outputs != nullptr, "out of memory for the output array");
    for (size_t i = 0; i < results.size(); ++i) {
      (*outputs)[i] = new at::Tensor(std::move(results[i]));
    }
    return 0;
  });
}

}  // extern "C"
