//! One renderer per format, each writing to `impl Write`.

pub mod human;
pub mod json;

/// Display options of the human report.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
    /// Wrap width in columns.
    pub width: usize,
    pub verbosity: crate::settings::Verbosity,
}

impl Style {
    /// Plain text for files: no colour, 100 columns, normal verbosity.
    pub fn plain() -> Style {
        Style {
            color: false,
            width: 100,
            verbosity: crate::settings::Verbosity::Normal,
        }
    }
}
