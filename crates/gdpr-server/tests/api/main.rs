//! The HTTP API end to end: the real server on port 0 with its own database (SQLite, and
//! PostgreSQL when `GDPR_TEST_POSTGRES_URL` is set), spoken to over HTTP like a client.

mod admin;
mod attest;
mod auditor;
mod auth;
mod backups;
mod batch;
mod binary;
mod breaches;
mod browser;
mod canary;
mod consent;
mod console;
mod errors;
mod exports;
mod faults;
mod helpers;
mod inquiries;
mod isolation;
mod offboarding;
mod openapi;
mod portal;
mod recipients;
mod replicas;
mod retention;
mod rights;
mod subjects;
mod tracker;
mod webhooks;
