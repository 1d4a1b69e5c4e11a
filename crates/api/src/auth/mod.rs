//! Authentication: passwords, tokens, and the extractor for the authenticated caller.

pub mod extractor;
pub mod password;
pub mod tokens;

pub use extractor::AuthUser;
