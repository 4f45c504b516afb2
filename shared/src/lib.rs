//! What serves a request: the HTTP layer (`http`, the functions' feature), the read store
//! (`store`), the table design (`table`, `item`) and the domain types (`model`), cursors
//! and the contract's JSON shapes (`view`). The functions link this crate alone;
//! `convo-admin` and the tests also read through it, and write through `writer`.

pub mod access;
pub mod client;
pub mod config;
pub mod cursor;
pub mod error;
#[cfg(feature = "http")]
pub mod http;
pub mod item;
pub mod model;
pub mod stats;
pub mod store;
pub mod string_json;
pub mod table;
// Hands out, unchecked, text it wrote itself as ASCII (`as_str`; SAFETY notes there).
#[allow(unsafe_code)]
pub mod view;

pub use error::StoreError;
pub use model::{Conversation, InboxEntry, LastMessage, MediaType, Message, Preview, SenderType, Status};
pub use store::Store;
