//! Names in scope at an offset (completion), and the members of what a
//! name refers to: an imported module's items, a resource type's
//! attributes, `host.vars` keys from the inventory, `facts` fields.

use super::{locate, prelude_file, top_item, Analysis, DefKind, DefLoc, Type};
use crate::db::{module_summary, prelude_summary, SourceFile};
use crate::resolve::{item_names, NameTarget};
use mc_grammar::ast::{Expr, Item, ResourceMember, TypeExpr};
use std::collections::{HashMap, HashSet};

/// A name visible at a point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeEntry {
    pub name: String,
    pub def: DefLoc,
    /// The checker's type of a local.
    pub ty: Option<Type>,
}

/// A resource type and its attributes, in declaration order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceInfo {
    pub def: DefLoc,
    pub attrs: Vec<DefLoc>,
    /// The values of literal-union attributes (`state: "present" | "absent"`).
    pub literals: HashMap<String, Vec<String>>,
}

impl Analysis {
    /// The names visible at `offset`: locals (innermost first), then the
    /// module's items and imports, then the prelude; `host` and `facts`
    /// where the checker has them in scope.
    pub fn scope_at(&self, file: SourceFile, offset: u32) -> Vec<ScopeEntry> {
        let db = self.db();
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut host = false;
        if let Some((at, item)) = self.item_index_at(file, offset) {
            let names = item_names(db, self.input, at, item, Some(offset));
            let kinds: HashMap<_, _> = names
                .refs
                .iter()
                .filter_map(|r| Some((r.span, r.def?)))
                .collect();
            if let Some(scope) = names.scope {
                host = scope.host;
                for (name, ty, span) in scope.locals.into_iter().rev() {
                    let target = match span {
                        Some(s) => NameTarget::Local(s),
                        None => NameTarget::Builtin("change"),
                    };
                    let Some(def) = locate(db, self.input, file, &target, &kinds) else {
                        continue;
                    };
                    if seen.insert(name.clone()) {
                        out.push(ScopeEntry {
                            name,
                            def,
                            ty: Some(ty),
                        });
                    }
                }
            }
        }
        let summary = module_summary(db, self.input, file);
        let module = summary
            .names
            .keys()
            .map(|n| NameTarget::Item(Some(file), n.clone()));
        let imports = summary
            .imports
            .keys()
            .map(|a| NameTarget::Module(a.clone()));
        let prelude = prelude_summary(db, self.input)
            .keys()
            .map(|n| NameTarget::Item(None, n.clone()));
        let mut builtins = Vec::new();
        if host {
            builtins = vec![NameTarget::Builtin("host"), NameTarget::Builtin("facts")];
        }
        let none = HashMap::new();
        for t in module.chain(imports).chain(prelude).chain(builtins) {
            let name = match &t {
                NameTarget::Item(_, n) | NameTarget::Module(n) => n.clone(),
                NameTarget::Builtin(b) => b.to_string(),
                _ => continue,
            };
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some(def) = locate(db, self.input, file, &t, &none) {
                out.push(ScopeEntry {
                    name,
                    def,
                    ty: None,
                });
            }
        }
        out
    }

    /// What `name` means at `offset`, and for `alias.member` the member.
    pub fn resolve_path(&self, file: SourceFile, offset: u32, segs: &[&str]) -> Option<DefLoc> {
        let first = segs.first()?;
        let entry = self
            .scope_at(file, offset)
            .into_iter()
            .find(|e| e.name == *first)?;
        match (entry.def.kind, segs.get(1)) {
            (DefKind::Import, Some(member)) => self
                .members(file, first)
                .into_iter()
                .find(|d| d.name == *member),
            (_, None) => Some(entry.def),
            _ => None,
        }
    }

    /// The items of the module imported as `alias` in `file`.
    pub fn members(&self, file: SourceFile, alias: &str) -> Vec<DefLoc> {
        let db = self.db();
        let Some(Some(target)) = module_summary(db, self.input, file).imports.get(alias) else {
            return Vec::new();
        };
        let none = HashMap::new();
        module_summary(db, self.input, *target)
            .names
            .keys()
            .filter_map(|n| {
                let t = NameTarget::Item(Some(*target), n.clone());
                locate(db, self.input, file, &t, &none)
            })
            .collect()
    }

    /// The resource type `name` as seen from `file` (its module, then the
    /// prelude).
    pub fn resource(&self, file: SourceFile, name: &str) -> Option<ResourceInfo> {
        let db = self.db();
        let summary = module_summary(db, self.input, file);
        let module = match summary.names.get(name) {
            Some(_) => file,
            None => prelude_file(db, self.input, name)?,
        };
        let (_, item) = top_item(db, module, name)?;
        let Item::Resource(decl) = item else {
            return None;
        };
        let def = DefLoc {
            file: Some(module),
            span: decl.name.span,
            kind: DefKind::Resource,
            name: name.to_string(),
        };
        let mut attrs = Vec::new();
        let mut literals = HashMap::new();
        for m in &decl.members {
            if let ResourceMember::Attr(a) = m {
                let values = literal_values(&a.ty);
                if !values.is_empty() {
                    literals.insert(a.name.name.clone(), values);
                }
                attrs.push(DefLoc {
                    file: Some(module),
                    span: a.name.span,
                    kind: DefKind::Attr,
                    name: a.name.name.clone(),
                });
            }
        }
        Some(ResourceInfo {
            def,
            attrs,
            literals,
        })
    }

    /// The keys of `host.vars` across the inventory (every `vars` record of
    /// every host and group of the project), with their literal types.
    pub fn host_var_names(&self) -> Vec<(String, Option<String>)> {
        let mut out: Vec<(String, Option<String>)> = Vec::new();
        for f in self.project_files() {
            for item in &self.parsed(f).module.items {
                let (Item::Host(decl) | Item::Group(decl)) = item else {
                    continue;
                };
                for field in decl.fields.iter().filter(|x| x.name.name == "vars") {
                    let Expr::Record { fields, .. } = &field.value else {
                        continue;
                    };
                    for v in fields {
                        if !out.iter().any(|(n, _)| *n == v.name.name) {
                            let ty = super::display_type(&crate::resolve::literal_type(&v.value));
                            out.push((v.name.name.clone(), ty));
                        }
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// The fields of the stdlib `Facts` record type at `path` (`[]`,
    /// `["os"]`), with their types as written.
    pub fn facts_fields(&self, path: &[&str]) -> Vec<(String, String)> {
        let db = self.db();
        let Some(file) = prelude_file(db, self.input, "Facts") else {
            return Vec::new();
        };
        let Some((_, Item::Type(t))) = top_item(db, file, "Facts") else {
            return Vec::new();
        };
        let text = self.text(file);
        let mut ty = &t.ty;
        for seg in path {
            let TypeExpr::Record(fields, _) = ty else {
                return Vec::new();
            };
            match fields.iter().find(|x| x.name.name == *seg) {
                Some(x) => ty = &x.ty,
                None => return Vec::new(),
            }
        }
        match ty {
            TypeExpr::Record(fields, _) => fields
                .iter()
                .map(|x| (x.name.name.clone(), x.ty.span().text(&text).to_string()))
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn literal_values(ty: &TypeExpr) -> Vec<String> {
    match ty {
        TypeExpr::Literal(s) => vec![s.value.clone()],
        TypeExpr::Union(members, _) => members.iter().flat_map(literal_values).collect(),
        TypeExpr::Optional(inner, _) | TypeExpr::Paren(inner, _) => literal_values(inner),
        _ => Vec::new(),
    }
}
