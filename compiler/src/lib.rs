//! mc-compiler: the salsa database, name resolution, types and evaluation
//! of mc programs to per-host catalogs.
//!
//! The CLI, the runtime glue and the language server all go through
//! [`Project`]:
//!
//! ```no_run
//! let project = mc_compiler::Project::load_dir(std::path::Path::new("examples/web"));
//! let diags = project.check();
//! print!("{}", project.render(&diags, false));
//! let hosts = project.hosts().unwrap_or_default();
//! if let Some(h) = hosts.first() {
//!     let facts = mc_compiler::Project::default_facts(h);
//!     let catalog = project.compile(&h.name, &facts);
//! }
//! ```

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod bind;
pub mod catalog;
mod cron;
pub mod datafile;
pub mod db;
mod decimal_mode;
pub mod diag;
pub mod docs;
pub mod eval;
mod explain;
pub mod fs;
pub mod ide;
pub mod import_ansible;
pub mod inventory;
pub mod policy;
pub mod program;
mod project;
pub mod resolve;
pub mod settings;
mod stack;
pub mod suggest;
pub mod template;
pub mod types;
pub mod value;
pub mod version;

pub use explain::{all_codes, explain, CODES};
pub use fs::{FileSystem, MemoryFileSystem, OsFileSystem};
pub use project::{entry_read_scope, FactsSource, Project};
