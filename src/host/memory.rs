//! Memory: total and available (sysinfo), transparent huge pages mode.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Memory {
    pub total_bytes: u64,
    pub available_bytes: u64,
    /// The selected mode of /sys/kernel/mm/transparent_hugepage/enabled
    /// (always, madvise, never), if readable.
    pub transparent_hugepages: Option<String>,
}

/// The bracketed choice in a sysfs multiple-choice file: "always [madvise] never" -> "madvise".
pub fn selected_choice(text: &str) -> Option<String> {
    text.split_whitespace()
        .find(|w| w.starts_with('[') && w.ends_with(']'))
        .map(|w| w.trim_matches(|c| c == '[' || c == ']').to_string())
}

pub fn detect() -> Memory {
    let mut system = sysinfo::System::new();
    system.refresh_memory();
    Memory {
        total_bytes: system.total_memory(),
        available_bytes: system.available_memory(),
        transparent_hugepages: std::fs::read_to_string(
            "/sys/kernel/mm/transparent_hugepage/enabled",
        )
        .ok()
        .and_then(|t| selected_choice(&t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_bracketed_choice() {
        assert_eq!(
            selected_choice("always [madvise] never\n").as_deref(),
            Some("madvise")
        );
        assert_eq!(
            selected_choice("[always] madvise never").as_deref(),
            Some("always")
        );
        assert_eq!(selected_choice("nothing selected"), None);
    }
}
