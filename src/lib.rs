//! RedRock: a Redis-compatible database server that keeps its data on
//! flash through RocksDB.
//!
//! A request flows one way: [`server`] (bytes to requests) ->
//! [`commands`] (argument parsing, arity, key locks) -> [`types`]
//! (semantics) -> [`storage`] (RocksDB) -> back up as a reply ->
//! [`protocol`] (reply to bytes).

/// The Redis version RedRock answers as (INFO, HELLO, Lua's
/// `redis.REDIS_VERSION`).
pub const REDIS_VERSION: &str = "7.2.0";

pub mod client;
pub mod commands;
pub mod config;
pub mod error;
pub mod glob;
pub mod keyspace_events;
pub mod logging;
pub mod metrics;
pub mod migration;
pub mod protocol;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod storage;
pub mod types;
