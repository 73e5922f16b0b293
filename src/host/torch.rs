//! Facts about the libtorch this process runs on: version, build flavour
//! (CUDA or CPU wheel, MKLDNN, OpenMP, LLVM for NNC), default threads.
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::native;

/// libtorch's build and process defaults, as the shim reads them.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TorchBuild {
    /// e.g. "2.7.0".
    pub version: String,
    pub version_major: u32,
    pub version_minor: u32,
    pub mkldnn: bool,
    pub mkl: bool,
    pub openmp: bool,
    /// Compiled with CUDA (the default PyPI wheel is), whether or not a GPU exists.
    pub cuda_compiled: bool,
    pub num_threads: usize,
    pub num_interop_threads: usize,
    /// at::show_config().
    pub config: String,
    /// at::get_parallel_info().
    pub parallel_info: String,
    /// Path of the loaded libtorch_cpu.so.
    #[serde(default)]
    pub library: String,
    /// Whether libtorch was built with LLVM, i.e. whether the TensorExpr
    /// fuser can compile CPU kernels (without it, NNC on CPU fails or runs an
    /// interpreter that is orders of magnitude slower).
    #[serde(default)]
    pub llvm: bool,
}

impl TorchBuild {
    /// Reads the build facts of the loaded libtorch.
    pub fn read() -> anyhow::Result<TorchBuild> {
        let mut build: TorchBuild = serde_json::from_str(&native::torch_build_json()?)?;
        build.library = native::libtorch_path()?;
        // at::hasCUDA() is false unless libtorch_cuda.so is loaded (ipex-tune
        // never loads it); the build flavour is in the build settings.
        build.cuda_compiled |= build.config.contains("USE_CUDA=ON");
        build.llvm =
            elf_dynamic_symbols_contain(Path::new(&build.library), b"LLVMCodeGen").unwrap_or(false);
        Ok(build)
    }

    /// "major.minor", the part IPEX requires to match.
    pub fn major_minor(&self) -> String {
        format!("{}.{}", self.version_major, self.version_minor)
    }
}

/// Whether the dynamic string table of an ELF64 shared library contains
/// `needle`. Reads only the section headers and that table, not the whole
/// (hundreds of MB) library.
pub fn elf_dynamic_symbols_contain(path: &Path, needle: &[u8]) -> std::io::Result<bool> {
    let mut file = std::fs::File::open(path)?;
    let mut header = [0u8; 64];
    file.read_exact(&mut header)?;
    if &header[0..4] != b"\x7fELF" || header[4] != 2 {
        return Ok(false);
    }
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as u64;
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as u64;
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let section_offset = u64_at(&header, 0x28);
    let section_size = u16_at(&header, 0x3a);
    let section_count = u16_at(&header, 0x3c);
    let mut sections = vec![0u8; (section_size * section_count) as usize];
    file.seek(SeekFrom::Start(section_offset))?;
    file.read_exact(&mut sections)?;
    const SHT_DYNSYM: u64 = 11;
    for i in 0..section_count as usize {
        let s = &sections[i * section_size as usize..];
        if u32_at(s, 4) != SHT_DYNSYM {
            continue;
        }
        // sh_link of .dynsym is the index of its string table (.dynstr).
        let link = u32_at(s, 0x28) as usize;
        let strtab = &sections[link * section_size as usize..];
        let (offset, size) = (u64_at(strtab, 0x18), u64_at(strtab, 0x20));
        let mut strings = vec![0u8; size as usize];
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(&mut strings)?;
        return Ok(strings.windows(needle.len()).any(|w| w == needle));
    }
    Ok(false)
}
