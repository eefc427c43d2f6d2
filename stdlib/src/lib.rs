//! mc-stdlib: the standard library of mc, written in mc and embedded in the
//! binary. The compiler loads every file as the prelude: its resource types,
//! types and functions are in scope in every module.

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

/// One stdlib source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StdlibFile {
    /// Path shown in messages, e.g. `<stdlib>/files.mc`.
    pub path: &'static str,
    pub source: &'static str,
}

/// Every stdlib file, in load order.
pub const FILES: &[StdlibFile] = &[
    StdlibFile {
        path: "<stdlib>/prelude.mc",
        source: include_str!("../prelude.mc"),
    },
    StdlibFile {
        path: "<stdlib>/functions.mc",
        source: include_str!("../functions.mc"),
    },
    StdlibFile {
        path: "<stdlib>/files.mc",
        source: include_str!("../files.mc"),
    },
    StdlibFile {
        path: "<stdlib>/packages.mc",
        source: include_str!("../packages.mc"),
    },
    StdlibFile {
        path: "<stdlib>/users.mc",
        source: include_str!("../users.mc"),
    },
    StdlibFile {
        path: "<stdlib>/exec.mc",
        source: include_str!("../exec.mc"),
    },
    StdlibFile {
        path: "<stdlib>/sources.mc",
        source: include_str!("../sources.mc"),
    },
    StdlibFile {
        path: "<stdlib>/network.mc",
        source: include_str!("../network.mc"),
    },
];

/// Prefix of every stdlib path, so messages can tell stdlib spans apart.
pub const PATH_PREFIX: &str = "<stdlib>/";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mc_file_in_the_folder_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                name.ends_with(".mc")
                    .then(|| format!("{PATH_PREFIX}{name}"))
            })
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|f| f.path.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
        assert!(FILES.iter().all(|f| !f.source.trim().is_empty()));
    }
}
