//! Thin handlers: extract, call the service, map the error. Permissions go
//! through [`crate::auth::Caller`]; status codes come from
//! [`crate::error::ApiError`].

pub mod images;
pub mod packages;
pub mod published;
pub mod repos;
