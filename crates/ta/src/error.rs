//! What an indicator refuses: parameters outside TA-Lib's ranges, and output slices that do not
//! match the input.

/// Why an indicator could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TaError {
    #[error("{indicator}: {param} must be between {min} and {max}, got {got}")]
    Period {
        indicator: &'static str,
        param: &'static str,
        min: usize,
        max: usize,
        got: usize,
    },
    #[error("{indicator}: {param} must be a finite number, got {got}")]
    Factor {
        indicator: &'static str,
        param: &'static str,
        got: f64,
    },
    #[error("{indicator}: every input and output needs {expected} values, one has {got}")]
    Length {
        indicator: &'static str,
        expected: usize,
        got: usize,
    },
}
