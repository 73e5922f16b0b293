//! The font charts are drawn with. plotters' pure-Rust text renderer
//! (ab_glyph) needs the font's bytes for PNG and to measure text for SVG.
//! DejaVu Sans comes from Debian's fonts-dejavu-core, which scripts/bootstrap
//! installs.
use std::sync::OnceLock;

const CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();

/// Registers the font as "sans-serif" once per process.
pub fn register() -> anyhow::Result<()> {
    REGISTERED
        .get_or_init(|| {
            let path = CANDIDATES
                .iter()
                .find(|p| std::path::Path::new(p).is_file())
                .ok_or_else(|| {
                    format!(
                        "no font for PNG charts (looked for {}); run scripts/bootstrap (fonts-dejavu-core)",
                        CANDIDATES.join(", ")
                    )
                })?;
            let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
            // plotters keeps registered fonts for the life of the process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, bytes)
                .map_err(|_| format!("{path}: not a usable font"))
        })
        .clone()
        .map_err(anyhow::Error::msg)
}
