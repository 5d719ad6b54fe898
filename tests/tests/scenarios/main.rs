//! End-to-end scenarios; each runs on SQLite and on Postgres.

mod abort;
mod bad_input;
mod console;
mod conversation;
mod delivery;
mod email;
mod interactions;
mod opencode;
mod operator;
mod protection;
mod runtimes;
mod slack;
mod webhook;
