//! Lua scripting: the Lua 5.1 environment that EVAL and FCALL scripts run in.

pub mod libs;
