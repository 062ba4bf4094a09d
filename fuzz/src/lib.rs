//! The fuzzing entry points of `ibkr-auth` (see `entries`).
pub mod entries;
