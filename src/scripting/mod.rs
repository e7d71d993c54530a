//! Lua scripting: EVAL scripts and FUNCTION libraries.
//!
//! This module knows Lua and nothing of connections or storage: scripts
//! reach the server through the [`engine::Host`] the command layer gives
//! them, which runs their `redis.call`s as one atomic transaction.
//! [`Scripts`] is the server-wide part: the script cache (SCRIPT LOAD),
//! the function libraries and the scripts running now.

mod api;
mod convert;
pub mod engine;
pub mod functions;
pub mod libs;
pub mod running;
mod sandbox;

pub use engine::{with_engine, Host, Interrupt, Outcome, Run};
pub use functions::{FunctionInfo, Library};
pub use running::{RunKind, RunningScript};

use bytes::Bytes;
use parking_lot::RwLock;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The server-wide state of scripting.
#[derive(Default)]
pub struct Scripts {
    /// SCRIPT LOAD's cache (and every EVAL's script), by SHA1.
    cache: RwLock<HashMap<Arc<str>, Arc<Script>>>,
    /// Bumped by SCRIPT FLUSH: engines drop what they compiled.
    cache_generation: AtomicU64,
    pub functions: functions::Registry,
    pub running: running::Running,
}

impl Scripts {
    /// The cached script with this SHA1 (any case).
    pub fn get(&self, sha: &[u8]) -> Option<Arc<Script>> {
        let sha = std::str::from_utf8(sha).ok()?.to_ascii_lowercase();
        self.cache.read().get(sha.as_str()).cloned()
    }

    /// Caches a script; returns the cached one if it was already there.
    pub fn insert(&self, script: Script) -> Arc<Script> {
        let mut cache = self.cache.write();
        cache
            .entry(script.sha.clone())
            .or_insert_with(|| Arc::new(script))
            .clone()
    }

    /// Whether a script with this SHA1 is cached.
    pub fn exists(&self, sha: &[u8]) -> bool {
        self.get(sha).is_some()
    }

    /// SCRIPT FLUSH: forgets every cached script.
    pub fn flush(&self) {
        let old = std::mem::take(&mut *self.cache.write());
        self.cache_generation.fetch_add(1, Ordering::SeqCst);
        drop(old);
    }

    pub fn cache_generation(&self) -> u64 {
        self.cache_generation.load(Ordering::SeqCst)
    }

    /// How many scripts are cached and the bytes of their bodies (INFO).
    pub fn cache_stats(&self) -> (usize, usize) {
        let cache = self.cache.read();
        (cache.len(), cache.values().map(|s| s.body.len()).sum())
    }
}

/// An EVAL script: its body, SHA1 and shebang flags.
pub struct Script {
    pub sha: Arc<str>,
    pub body: Bytes,
    pub flags: ScriptFlags,
    /// Where the code starts: after the shebang line, whose line feed is
    /// kept so line numbers stay the user's.
    code_start: usize,
}

impl Script {
    /// Parses a script's shebang; the error is Redis's reply text.
    pub fn new(body: Bytes) -> Result<Script, String> {
        let (flags, code_start) = ScriptFlags::from_shebang(&body)?;
        Ok(Script {
            sha: sha1_hex(&body).into(),
            body,
            flags,
            code_start,
        })
    }

    /// The Lua code to compile.
    pub fn code(&self) -> &[u8] {
        &self.body[self.code_start..]
    }
}

/// The flags a script declares in its shebang (`#!lua flags=...`) or a
/// function in `register_function`, as Redis's `SCRIPT_FLAG_*`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScriptFlags(u8);

impl ScriptFlags {
    pub const NO_WRITES: ScriptFlags = ScriptFlags(1);
    pub const ALLOW_OOM: ScriptFlags = ScriptFlags(1 << 1);
    pub const ALLOW_STALE: ScriptFlags = ScriptFlags(1 << 2);
    pub const NO_CLUSTER: ScriptFlags = ScriptFlags(1 << 3);
    pub const ALLOW_CROSS_SLOT: ScriptFlags = ScriptFlags(1 << 4);
    /// A script without a shebang: Redis's compatibility mode (it may
    /// write under EVAL_RO's refusal only when it calls a write command).
    pub const EVAL_COMPAT: ScriptFlags = ScriptFlags(1 << 5);

    /// The flags users name, in Redis's order.
    const NAMED: [(ScriptFlags, &'static str); 5] = [
        (Self::NO_WRITES, "no-writes"),
        (Self::ALLOW_OOM, "allow-oom"),
        (Self::ALLOW_STALE, "allow-stale"),
        (Self::NO_CLUSTER, "no-cluster"),
        (Self::ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
    ];

    pub fn parse(name: &str) -> Option<ScriptFlags> {
        Self::NAMED
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(flag, _)| *flag)
    }

    pub fn union(self, other: ScriptFlags) -> ScriptFlags {
        ScriptFlags(self.0 | other.0)
    }

    pub fn has(self, flag: ScriptFlags) -> bool {
        self.0 & flag.0 != 0
    }

    /// The names of the flags set, in Redis's order (FUNCTION LIST).
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMED
            .iter()
            .filter(|(flag, _)| self.has(*flag))
            .map(|(_, name)| *name)
            .collect()
    }

    /// Redis's `evalExtractShebangFlags`: the flags and where the code
    /// starts (at the shebang's line feed).
    fn from_shebang(body: &[u8]) -> Result<(ScriptFlags, usize), String> {
        if !body.starts_with(b"#!") {
            return Ok((Self::EVAL_COMPAT, 0));
        }
        let Some(end) = body.iter().position(|&b| b == b'\n') else {
            return Err("ERR Invalid script shebang".into());
        };
        let line = String::from_utf8_lossy(&body[..end]);
        let mut parts = line.split([' ', '\t']).filter(|p| !p.is_empty());
        let Some(engine) = parts.next() else {
            return Err("ERR Invalid engine in script shebang".into());
        };
        if engine != "#!lua" {
            return Err(format!("ERR Unexpected engine in script shebang: {engine}"));
        }
        let mut flags = ScriptFlags::default();
        for part in parts {
            let Some(list) = part.strip_prefix("flags=") else {
                return Err(format!("ERR Unknown lua shebang option: {part}"));
            };
            // Redis splits with sdssplitlen, which finds no item at all
            // in an empty list: `flags=` declares no flag.
            if list.is_empty() {
                continue;
            }
            for name in list.split(',') {
                match Self::parse(name) {
                    Some(flag) => flags = flags.union(flag),
                    None => return Err(format!("ERR Unexpected flag in script shebang: {name}")),
                }
            }
        }
        Ok((flags, end))
    }
}

/// A SHA1 digest in lower-case hex, as scripts are named.
pub fn sha1_hex(bytes: &[u8]) -> String {
    Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
