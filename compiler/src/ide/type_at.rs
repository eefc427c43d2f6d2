//! The checker's type at an offset: of the value a name names there (a
//! `let`, a parameter, a local, a module's `let`), as the static checker
//! inferred it when it resolved that name.

use super::{Analysis, Type};
use crate::db::SourceFile;
use mc_grammar::span::Span;

impl Analysis {
    /// The type of the name at `offset`, when it names a value.
    pub fn type_at(&self, file: SourceFile, offset: u32) -> Option<Type> {
        self.occurrence_at(file, offset)?.ty.clone()
    }

    /// The type the checker gave the name declared at `name` (a `let`, a
    /// parameter, a `for` variable).
    pub fn binding_type(&self, file: SourceFile, name: Span) -> Option<Type> {
        self.occurrences(file)
            .iter()
            .find(|o| o.is_def && o.span == name)?
            .ty
            .clone()
    }
}
