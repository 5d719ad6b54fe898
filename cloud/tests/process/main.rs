//! Tests that run the real `open-cowork-cloud` binary over loopback HTTP, on SQLite and Postgres.

mod admin;
mod auth;
mod channels;
mod guard;
mod harness;
mod interactions;
mod serve;
