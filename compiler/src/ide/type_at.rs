//! The checker's type at an offset: of the value a name names there (a
//! `let`, a parameter, a local, a module's `let`), or of a field read
//! there, as the static checker inferred it when it resolved that name.

use super::{file_names, Analysis, Type};
use crate::db::SourceFile;
use mc_grammar::span::Span;

impl Analysis {
    /// The type of the name at `offset`, when it names a value.
    pub fn type_at(&self, file: SourceFile, offset: u32) -> Option<Type> {
        self.occurrence_at(file, offset)?.ty.clone()
    }

    /// The field read at `offset` (`s.port`, `host.name`): the span of
    /// its name and the checker's type of it.
    pub fn field_at(&self, file: SourceFile, offset: u32) -> Option<(Span, Type)> {
        file_names(self.db(), self.input, file)
            .fields
            .iter()
            .find(|(span, _)| span.start <= offset && offset <= span.end)
            .cloned()
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
