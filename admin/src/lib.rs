//! `convo-admin`: table set-up, demo data and import of the legacy MySQL data. The
//! binary in `main.rs` is a thin clap front-end over these modules.

pub mod cli;
pub mod import;
pub mod jsonl;
pub mod legacy;
pub mod mysqldump;
pub mod plan;
pub mod seed;
pub mod streaming;
