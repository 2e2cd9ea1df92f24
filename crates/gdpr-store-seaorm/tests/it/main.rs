//! The storage adapter's own tests, run against a real SQLite file and a real PostgreSQL
//! database (a fresh one per test, on the server named by `GDPR_TEST_POSTGRES_URL`).

mod at_rest;
mod audit;
mod consent;
mod documents;
mod dump;
mod erasure;
mod harness;
mod jobs;
mod replicas;
mod requests;
mod retention;
mod scenario;
mod subjects;
mod webhooks;
