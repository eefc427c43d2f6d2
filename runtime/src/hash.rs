//! Content hashes: lowercase hex SHA-256, as in the plan file and the runner
//! protocol.

pub use mc_ir::hash::sha256_hex;
