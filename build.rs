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

    // One translation unit per concern (csrc/internal.h lists them).
    let mut sources: Vec<PathBuf> = std::fs::read_dir("csrc")
        .expect("csrc/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cpp"))
        .collect();
    sources.sort();
    println!("cargo:rerun-if-changed=csrc");
    for file in std::fs::read_dir("csrc").expect("csrc/").flatten() {
        println!("cargo:rerun-if-changed={}", file.path().display());
    }
    git_hash();
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .files(&sources)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .flag("-DGLOG_USE_GLOG_EXPORT")
        // libtorch is built with NDEBUG, and some of its classes change
        // layout without it (at::RecordFunction gains a field): a debug
        // build of the shim must not see other layouts than the library.
        .define("NDEBUG", None)
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-deprecated-declarations")
        .warnings(false)
        .compile("ipex_tune_shim");

    embed_data_files();

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

/// Embeds the bundled rules and suites (`rules/*.yaml`, `suites/*.yaml`) in
/// the binary, so it works from any directory: writes
/// `$OUT_DIR/bundled.rs` with `RULES` and `SUITES` as (file name, text).
fn embed_data_files() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let mut out = String::new();
    for (constant, dir) in [("RULES", "rules"), ("SUITES", "suites")] {
        println!("cargo:rerun-if-changed={dir}");
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|x| x == "yaml"));
        files.sort();
        out += &format!("pub const {constant}: &[(&str, &str)] = &[\n");
        for file in files {
            println!("cargo:rerun-if-changed={}", file.display());
            let name = format!("{dir}/{}", file.file_name().unwrap().to_string_lossy());
            out += &format!(
                "    ({name:?}, include_str!({:?})),\n",
                file.display().to_string()
            );
        }
        out += "];\n";
    }
    let dest = PathBuf::from(env::var("OUT_DIR").unwrap()).join("bundled.rs");
    std::fs::write(dest, out).expect("write bundled.rs");
}

/// The commit the binary is built from (`--version`), "unknown" outside a
/// git checkout; "+changes" when the tree differs from it.
fn git_hash() {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let hash = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let suffix = if dirty { "+changes" } else { "" };
    println!("cargo:rustc-env=IPEX_TUNE_GIT_HASH={hash}{suffix}");
    for path in [".git/HEAD", ".git/index"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
