pub mod check;
pub mod completions;
pub mod pending;
