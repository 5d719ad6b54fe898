//! Tests that run the real `open-cowork-gateway` binary: crash recovery after `kill -9` and
//! graceful shutdown on SIGTERM, on SQLite and on Postgres.

mod abuse;
mod balancer;
mod chaos;
mod collector;
mod crash;
mod harness;
mod operator_cli;
mod postgres_server;
mod receiver;
mod replicas;
mod signals;
mod split;
mod traces;
