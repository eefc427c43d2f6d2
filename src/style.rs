//! Colour: `--color auto|always|never`, `NO_COLOR` and `CLICOLOR_FORCE`,
//! decided once by `anstream` for each stream.

use std::io::IsTerminal;

/// When to colour output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless `NO_COLOR` is set.
    #[default]
    Auto,
    /// Even into pipes and files.
    Always,
    /// Never, not even on a terminal.
    Never,
}

/// Records the user's choice for the whole process.
pub fn init(when: ColorWhen) {
    let choice = match when {
        ColorWhen::Auto => anstream::ColorChoice::Auto,
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
    };
    choice.write_global();
}

fn colored(choice: anstream::ColorChoice) -> bool {
    !matches!(choice, anstream::ColorChoice::Never)
}

/// Whether to colour what goes to stdout.
pub fn stdout_color() -> bool {
    colored(anstream::AutoStream::choice(&std::io::stdout()))
}

/// Whether to colour what goes to stderr.
pub fn stderr_color() -> bool {
    colored(anstream::AutoStream::choice(&std::io::stderr()))
}

/// Whether stderr is a terminal that gets live (redrawn) progress.
pub fn stderr_is_live() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}
