//! Empty: only its Cargo.lock is audited.
