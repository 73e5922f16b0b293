//! The `report` stage: the terminal summary of a results file, and the reports people read — HTML with charts, PNG
//! charts, Markdown.
pub mod charts;
mod fonts;
pub mod html;
pub mod markdown;
pub mod profile;
pub mod summary;

use std::path::Path;

use crate::record::Results;

/// Writes the HTML, PNG and Markdown reports asked for.
pub fn write_reports(
    results: &Results,
    html: Option<&Path>,
    png_dir: Option<&Path>,
    markdown_path: Option<&Path>,
) -> anyhow::Result<Vec<String>> {
    use anyhow::Context;
    let mut written = Vec::new();
    if let Some(path) = html {
        std::fs::write(path, html::render(results)?).with_context(|| path.display().to_string())?;
        written.push(path.display().to_string());
    }
    if let Some(dir) = png_dir {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
        for chart in charts::all(results) {
            let path = dir.join(format!("{}.png", chart.name()));
            chart.png(results, &path)?;
            written.push(path.display().to_string());
        }
    }
    if let Some(path) = markdown_path {
        std::fs::write(path, markdown::render(results))
            .with_context(|| path.display().to_string())?;
        written.push(path.display().to_string());
    }
    Ok(written)
}
