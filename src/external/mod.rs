//! Derived roles that trust principals tether does not manage, and whether those
//! principals may really assume them.

pub mod allows;
