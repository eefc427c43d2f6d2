//! mc-grammar: lexer, grammar, typed AST with byte spans, trivia side table,
//! and the tolerant and strict parsers of the mc language.
//!
//! ```
//! let parsed = mc_grammar::parse("let port: Int = 8080\n");
//! assert!(parsed.errors.is_empty());
//! assert_eq!(parsed.module.items.len(), 1);
//! ```

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod ast;
pub mod errors;
pub mod lexer;
mod parser;
pub mod span;
mod strings;

lalrpop_util::lalrpop_mod!(
    #[allow(
        clippy::all,
        clippy::pedantic,
        clippy::unwrap_used,
        unused_parens,
        dead_code,
        unused_qualifications
    )]
    grammar,
    "/mc.rs"
);

pub use errors::explain;
pub use lexer::{Trivia, TriviaKind};
pub use parser::{parse, parse_file, parse_strict, Parsed, MAX_CHAIN};
pub use span::Span;
pub use strings::unescape;
