//! Shared by the Conversations API functions and `convo-admin`: the domain types, the
//! DynamoDB table design and the store, cursors, and the contract's JSON shapes.

pub mod access;
pub mod client;
pub mod config;
pub mod cursor;
pub mod error;
#[cfg(feature = "http")]
pub mod http;
pub mod item;
pub mod model;
pub mod store;
pub mod string_json;
pub mod table;
// Hands out, unchecked, text it wrote itself as ASCII (`as_str`; SAFETY notes there).
#[allow(unsafe_code)]
pub mod view;

pub use error::StoreError;
pub use model::{Conversation, InboxEntry, LastMessage, MediaType, Message, Preview, SenderType, Status};
pub use store::Store;
