//! Use-case tests over the in-memory adapters: every compliance rule of the app layer, without
//! I/O. One binary for the crate, one module per area.

mod attest;
mod audit;
mod auditor;
mod backup_restore;
mod backups;
mod batch;
mod breaches;
mod cache;
mod config;
mod consent;
mod console;
mod deadlines;
mod erasure;
mod export;
mod export_delivery;
mod formats;
mod helpers;
mod inquiries;
mod interactions;
mod journal;
mod limits;
mod offboarding;
mod portal;
mod recipients;
mod register;
mod requests;
mod retention;
mod subjects;
mod tamper;
mod tenancy;
mod webhooks;
