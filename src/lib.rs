//! tether: a declarative reconciler for cross-account, cross-region AWS delivery plumbing.
//!
//! The pure core runs in this order: [`loader`] (bytes → raw types), [`validate`]
//! (raw → [`model`]), [`expand`] (model → desired resources) and [`graph`] (ordering).

pub mod diag;
pub mod loader;
pub mod raw;
