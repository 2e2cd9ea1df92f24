//! Database schema migrations for `gdpr-store-seaorm`.
//!
//! This crate will own every schema change, as SeaORM migrations, applied by `gdpr migrate` and
//! on server start. It holds no migration yet: the storage adapter that needs them is built in
//! its own issue, and it will add `sea-orm-migration` here then, not before, so that the domain
//! crates build without it.
