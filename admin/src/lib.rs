//! `convo-admin`: table set-up, demo data and import of the legacy MySQL data. The
//! binary in `main.rs` is a thin clap front-end over these modules.
//!
//! Every import runs one pipeline: a `source` (JSON Lines, mysqldump, the demo data) is
//! read by `plan` (pass 1: validate, position) and again by `write` (pass 2: write),
//! driven by `import`; `report` shows it. Imports point down that list, never back up:
//! `source` knows nothing of the pipeline, `plan` nothing of the table.
//!
//! `sync` reads the live legacy MySQL database instead; an import into a table that holds
//! an older copy of the same data and `sync` bring a conversation up to date by the same
//! rule, `reconcile::change`, written by `Writer::apply_change`.

pub mod backfill;
pub mod cli;
pub mod dashboard_user;
pub mod errors;
pub mod import;
pub mod legacy;
pub mod plan;
pub mod reconcile;
pub mod report;
pub mod source;
pub mod sync;
pub mod write;
