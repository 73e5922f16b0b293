//! Compiles the C++ shim (csrc/) against the libtorch that torch-sys links,
//! and sets an rpath so the binary finds libtorch without LD_LIBRARY_PATH.
use std::env;
use std::path::PathBuf;

fn main() {
    // Exported by torch-sys (`links = "tch"`) to crates that depend on it directly.
    let lib_dir = PathBuf::from(
        env::var("DEP_TCH_LIBTORCH_LIB")
            .expect("DEP_TCH_LIBTORCH_LIB not set: run scripts/bootstrap and build through cargo"),
    );
    let torch_root = lib_dir
        .parent()
        .expect("libtorch lib dir has a parent")
        .to_path_buf();
    let include = torch_root.join("include");

    for file in ["csrc/shim.cpp", "csrc/shim.h"] {
        println!("cargo:rerun-if-changed={file}");
    }
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .file("csrc/shim.cpp")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-deprecated-declarations")
        .warnings(false)
        .compile("ipex_tune_shim");

    println!("cargo:rustc-link-search=native={}", lib_dir.display());
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
    println!("cargo:rustc-link-lib=dylib=torch");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
    // Where the binary looks for the IPEX library by default (the same
    // site-packages as libtorch); overridable at run time.
    println!(
        "cargo:rustc-env=IPEX_TUNE_LIBTORCH_LIB={}",
        lib_dir.display()
    );
}
