//! Tests that run the real `open-cowork-gateway` binary: crash recovery after `kill -9` and
//! graceful shutdown on SIGTERM, on SQLite and on Postgres.

mod crash;
mod harness;
mod replicas;
mod signals;
mod split;
