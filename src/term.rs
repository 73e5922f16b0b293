//! The terminal: whether to colour, and how wide tables may be. Colour only
//! on a terminal, never with NO_COLOR set (no-color.org) or TERM=dumb;
//! CLICOLOR_FORCE=1 forces it (for tools that capture a coloured log).
use std::io::IsTerminal;

/// Colours for status words, or plain text.
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    on: bool,
}

/// For text written to stderr (progress).
pub fn for_stderr() -> Paint {
    Paint {
        on: colour_wanted(std::io::stderr().is_terminal()),
    }
}

/// For text written to stdout (tables, summaries).
pub fn for_stdout() -> Paint {
    Paint {
        on: colour_wanted(std::io::stdout().is_terminal()),
    }
}

fn colour_wanted(is_terminal: bool) -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("NO_COLOR") {
        return false;
    }
    if std::env::var("CLICOLOR_FORCE").is_ok_and(|v| v != "0") {
        return true;
    }
    is_terminal && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

impl Paint {
    pub fn is_on(self) -> bool {
        self.on
    }

    fn wrap(self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// PASS, ok: green.
    pub fn pass(self, text: &str) -> String {
        self.wrap("32", text)
    }

    /// WARN, inaccurate: yellow.
    pub fn warn(self, text: &str) -> String {
        self.wrap("33", text)
    }

    /// FAIL, failed, a regression: red.
    pub fn fail(self, text: &str) -> String {
        self.wrap("31", text)
    }

    /// The winner: bold.
    pub fn strong(self, text: &str) -> String {
        self.wrap("1", text)
    }
}

/// The terminal's width in columns when stdout is one (COLUMNS first, as
/// shells export it), for tables that must fit; None when not a terminal.
pub fn stdout_width() -> Option<u16> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    if let Some(cols) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(cols);
    }
    comfy_table::Table::new().width()
}

/// A table in the house style that, on a terminal, wraps its cells to fit
/// the terminal's width (in a pipe or a file it keeps whole lines).
pub fn table() -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    if let Some(width) = stdout_width() {
        t.set_width(width)
            .set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    }
    // Cell colours follow our rule (NO_COLOR, CLICOLOR_FORCE), not only
    // comfy-table's own terminal check.
    if for_stdout().is_on() {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    t
}

/// How a status word reads.
#[derive(Debug, Clone, Copy)]
pub enum Tone {
    Pass,
    Warn,
    Fail,
    /// The winner.
    Strong,
}

/// A table cell coloured by `tone` (plain where colour is off: the table
/// drops styling then).
pub fn cell(text: impl std::fmt::Display, tone: Option<Tone>) -> comfy_table::Cell {
    use comfy_table::{Attribute, Cell, Color};
    let cell = Cell::new(text);
    match tone {
        Some(Tone::Pass) => cell.fg(Color::Green),
        Some(Tone::Warn) => cell.fg(Color::Yellow),
        Some(Tone::Fail) => cell.fg(Color::Red),
        Some(Tone::Strong) => cell.add_attribute(Attribute::Bold),
        None => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paint_adds_nothing_and_colour_wraps() {
        assert_eq!(Paint { on: false }.fail("FAIL"), "FAIL");
        assert_eq!(Paint { on: true }.pass("ok"), "\x1b[32mok\x1b[0m");
    }
}
