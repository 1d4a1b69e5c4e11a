//! Outbound webhooks (docs/webhooks.md): signing, which targets are allowed, and the worker
//! that delivers the outbox. The events themselves are written by the store, in the
//! transaction of the change that caused them.

pub mod signature;
pub mod target;
pub mod worker;
