//! The Lua 5.1 interpreter scripts run in, set up as Redis sets up its own.
//!
//! Each thread that runs scripts keeps one Lua state, so scripts on
//! different threads run in parallel; a state never moves between threads.
//! Compiled EVAL scripts and loaded function libraries are kept per state
//! and refreshed from the server-wide [`Scripts`] when SCRIPT FLUSH or a
//! FUNCTION command changes them.
//!
//! The sandbox follows Redis 7: the base, table, string and math libraries,
//! `cjson`, `cmsgpack`, `bit` and `struct`, the `redis` API, no `print`,
//! `dofile`, `loadfile`, `io`, `os` or `debug`; reading a global that does
//! not exist, creating a global or changing a library table is an error.
//! Scripts see their globals through an empty, protected environment
//! table whose `__index` chain ends in the shared globals; FUNCTION LOAD
//! runs library code with only `redis.register_function`, `redis.log` and
//! the version fields in sight, as Redis does.

use super::api;
use super::convert::to_reply;
use super::libs;
use super::running::RunningScript;
use super::{FunctionInfo, Library, Script, Scripts};
use crate::protocol::Reply;
use bytes::Bytes;
use mlua::chunk::ChunkMode;
use mlua::{ffi, Function, Lua, LuaOptions, MultiValue, StdLib, Table, Value};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::os::raw::c_int;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a script reaches the server through: `redis.call` and friends.
pub trait Host {
    /// Runs a command for the script and returns its reply (an error reply
    /// included), or [`Interrupt`] when the script must stop at once.
    fn call(&mut self, argv: Vec<Bytes>, resp: u8) -> Result<Reply, Interrupt>;
    /// Whether `argv` names a command (`redis.acl_check_cmd`).
    fn knows_command(&self, argv: &[Bytes]) -> bool;
}

/// Stops the script: its run is abandoned (see [`Outcome::Interrupted`]).
#[derive(Debug)]
pub struct Interrupt;

/// How a run ended.
pub enum Outcome {
    /// The script's reply (an error reply when it failed or was killed).
    Done(Reply),
    /// The host interrupted it: nothing it did counts.
    Interrupted,
}

/// How often (in Lua instructions) a running script checks for SCRIPT
/// KILL and the busy threshold, as in Redis.
const HOOK_INSTRUCTIONS: c_int = 100_000;

/// How long library code may run at FUNCTION LOAD.
const LOAD_TIME_LIMIT: Duration = Duration::from_millis(500);

/// The run in progress on this thread, for `redis.call` and the hook.
pub struct Run<'a> {
    pub host: &'a mut dyn Host,
    /// The protocol the script speaks to `redis.call` (`redis.setresp`).
    pub resp: u8,
    pub running: &'a RunningScript,
    /// Set when the host interrupted the script.
    pub(super) interrupted: bool,
}

impl<'a> Run<'a> {
    pub fn new(host: &'a mut dyn Host, running: &'a RunningScript) -> Run<'a> {
        Run {
            host,
            resp: 2,
            running,
            interrupted: false,
        }
    }

    /// The error that stops the script now, if any.
    fn stop_reason(&mut self) -> Option<&'static str> {
        if self.interrupted {
            return Some("ERR Script interrupted to run again");
        }
        if self.running.killed() {
            return Some(self.running.kill_message());
        }
        self.running.check_busy();
        None
    }
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
    /// The [`Run`] in progress (a `*mut Run`), null between runs.
    static RUN: Cell<*mut ()> = const { Cell::new(std::ptr::null_mut()) };
    /// When the library code being loaded must stop.
    static LOAD_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The functions registered by the library code being loaded.
    pub(super) static REGISTERED: RefCell<Option<Vec<(FunctionInfo, Function)>>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's engine, brought up to date with `scripts`.
pub fn with_engine<R>(scripts: &Scripts, f: impl FnOnce(&mut Engine) -> R) -> R {
    ENGINE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let engine = match &mut *slot {
            Some(engine) => engine,
            none => none.insert(Engine::new().expect("creating the Lua state")),
        };
        engine.sync(scripts);
        f(engine)
    })
}

/// Calls `f` with the run in progress, if there is one.
pub(super) fn with_run<R>(f: impl FnOnce(&mut Run<'_>) -> R) -> Option<R> {
    let ptr = RUN.with(Cell::get);
    if ptr.is_null() {
        return None;
    }
    // SAFETY: RUN points at the Run that `Engine::call_protected`'s caller
    // holds for the whole run, on this thread, and is reset before it ends;
    // the callbacks and the hook that reach it never run at the same time.
    Some(f(unsafe { &mut *(ptr as *mut Run<'_>) }))
}

/// Sets RUN for the life of the guard.
struct RunGuard;

impl RunGuard {
    fn enter(run: &mut Run<'_>) -> RunGuard {
        RUN.with(|cell| cell.set(run as *mut Run<'_> as *mut ()));
        RunGuard
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        RUN.with(|cell| cell.set(std::ptr::null_mut()));
    }
}

pub struct Engine {
    lua: Lua,
    /// Redis's `__redis__err__handler`: turns an error into a table with
    /// the failing position.
    handler: Function,
    /// The environment of EVAL scripts, and the table behind it where
    /// KEYS and ARGV are set for each run.
    eval_env: Table,
    eval_globals: Table,
    /// The environment of library code: its metatable's `__index` is the
    /// loading API while FUNCTION LOAD runs, the full API otherwise.
    function_env: Table,
    function_env_meta: Table,
    function_globals: Table,
    load_globals: Table,
    /// Compiled EVAL scripts by SHA1, valid for `cache_generation`.
    compiled: HashMap<Arc<str>, Function>,
    cache_generation: u64,
    /// The registered functions of every library, for
    /// `functions_generation`.
    functions: HashMap<String, (Function, Arc<FunctionInfo>)>,
    functions_generation: u64,
}

impl Engine {
    fn new() -> mlua::Result<Engine> {
        // SAFETY: `debug` is loaded for the error handler only and removed
        // from the globals before any script runs.
        let lua = unsafe {
            Lua::unsafe_new_with(
                StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
                LuaOptions::new(),
            )
        };
        libs::install(&lua)?;
        let globals = lua.globals();
        for name in ["dofile", "loadfile", "print"] {
            globals.raw_set(name, Value::Nil)?;
        }
        globals.raw_set("redis", api::redis_api(&lua)?)?;
        let math: Table = globals.raw_get("math")?;
        libs::register(&lua, &math, "random", api::math_random)?;
        libs::register(&lua, &math, "randomseed", api::math_randomseed)?;
        let load_redis = api::load_api(&lua)?;
        let sandbox = super::sandbox::build(&lua, load_redis)?;
        Ok(Engine {
            lua,
            handler: sandbox.handler,
            eval_env: sandbox.eval_env,
            eval_globals: sandbox.eval_globals,
            function_env: sandbox.function_env,
            function_env_meta: sandbox.function_env_meta,
            function_globals: sandbox.function_globals,
            load_globals: sandbox.load_globals,
            compiled: HashMap::new(),
            cache_generation: 0,
            functions: HashMap::new(),
            functions_generation: 0,
        })
    }

    /// Drops compiled scripts after SCRIPT FLUSH and reloads the libraries
    /// after a FUNCTION change.
    fn sync(&mut self, scripts: &Scripts) {
        let generation = scripts.cache_generation();
        if generation != self.cache_generation {
            self.compiled.clear();
            self.cache_generation = generation;
        }
        let (generation, libraries) = scripts.functions.snapshot();
        if generation != self.functions_generation {
            self.functions.clear();
            for library in libraries.values() {
                match self.load(&library.code) {
                    Ok(registered) => {
                        for (info, function) in registered {
                            self.functions
                                .insert(info.name.to_ascii_lowercase(), (function, Arc::new(info)));
                        }
                    }
                    Err(e) => tracing::error!("library {} failed to load: {e}", library.name),
                }
            }
            self.functions_generation = generation;
            self.lua.gc_collect().ok();
        }
    }

    /// Compiles an EVAL script (SCRIPT LOAD, EVAL), keeping it for later
    /// runs; the error is Redis's reply text.
    pub fn compile(&mut self, script: &Script) -> Result<Function, String> {
        if let Some(f) = self.compiled.get(&script.sha) {
            return Ok(f.clone());
        }
        let function = self
            .lua
            .load(script.code())
            .set_name("@user_script")
            .set_mode(ChunkMode::Text)
            .set_environment(self.eval_env.clone())
            .into_function()
            .map_err(|e| {
                format!(
                    "ERR Error compiling script (new function): {}",
                    lua_message(&e)
                )
            })?;
        self.compiled.insert(script.sha.clone(), function.clone());
        Ok(function)
    }

    /// Runs an EVAL script with its KEYS and ARGV.
    pub fn eval(
        &mut self,
        script: &Script,
        keys: &[Bytes],
        args: &[Bytes],
        run: &mut Run<'_>,
    ) -> Outcome {
        let function = match self.compile(script) {
            Ok(function) => function,
            Err(e) => return Outcome::Done(Reply::Error(e.into())),
        };
        let set = || -> mlua::Result<()> {
            self.eval_globals.raw_set("KEYS", self.strings(keys)?)?;
            self.eval_globals.raw_set("ARGV", self.strings(args)?)
        };
        if let Err(e) = set() {
            return Outcome::Done(Reply::Error(format!("ERR {e}").into()));
        }
        self.call_protected(&function, MultiValue::new(), &script.sha, run)
    }

    /// Runs the function `name` with its keys and arguments; `None` if no
    /// library registers it.
    pub fn fcall(
        &mut self,
        name: &str,
        keys: &[Bytes],
        args: &[Bytes],
        run: &mut Run<'_>,
    ) -> Option<Outcome> {
        let (function, info) = self.functions.get(&name.to_ascii_lowercase())?.clone();
        let call_args = || -> mlua::Result<MultiValue> {
            Ok(MultiValue::from_iter([
                Value::Table(self.strings(keys)?),
                Value::Table(self.strings(args)?),
            ]))
        };
        Some(match call_args() {
            Ok(call_args) => self.call_protected(&function, call_args, &info.name, run),
            Err(e) => Outcome::Done(Reply::Error(format!("ERR {e}").into())),
        })
    }

    fn strings(&self, items: &[Bytes]) -> mlua::Result<Table> {
        let table = self.lua.create_table_with_capacity(items.len(), 0)?;
        for (i, item) in items.iter().enumerate() {
            table.raw_set(i + 1, self.lua.create_string(item)?)?;
        }
        Ok(table)
    }

    /// Calls `function` under the error handler with the hook watching,
    /// and shapes its result or its error as Redis does.
    fn call_protected(
        &mut self,
        function: &Function,
        args: MultiValue,
        name: &str,
        run: &mut Run<'_>,
    ) -> Outcome {
        let nargs = args.len() as c_int;
        let mut stack = args;
        stack.push_front(Value::Function(function.clone()));
        stack.push_front(Value::Function(self.handler.clone()));
        let result = {
            let _guard = RunGuard::enter(run);
            // SAFETY: the closure balances the stack: it replaces the
            // handler with the status and leaves the one result above it.
            unsafe {
                self.lua.exec_raw::<(bool, Value)>(stack, move |state| {
                    ffi::lua_sethook(state, Some(hook), ffi::LUA_MASKCOUNT, HOOK_INSTRUCTIONS);
                    let handler = ffi::lua_gettop(state) - nargs - 1;
                    let status = ffi::lua_pcall(state, nargs, 1, handler);
                    ffi::lua_sethook(state, None, 0, 0);
                    ffi::lua_pushboolean(state, c_int::from(status == 0));
                    ffi::lua_replace(state, handler);
                })
            }
        };
        if run.interrupted {
            return Outcome::Interrupted;
        }
        Outcome::Done(match result {
            Ok((true, value)) => to_reply(&value, run.resp),
            Ok((false, Value::Table(error))) => {
                let text = |field: &str| match error.get::<Value>(field) {
                    Ok(Value::String(s)) => Some(s.to_string_lossy()),
                    Ok(Value::Integer(n)) => Some(n.to_string()),
                    Ok(Value::Number(n)) => Some(libs::format_g(n, 14)),
                    _ => None,
                };
                let message = text("err").unwrap_or_else(|| "ERR unknown error".into());
                match (text("source"), text("line")) {
                    (Some(source), Some(line)) => Reply::Error(
                        format!("{message} script: {name}, on {source}:{line}.").into(),
                    ),
                    _ => Reply::Error(message.into()),
                }
            }
            Ok((false, value)) => {
                let message = match &value {
                    Value::String(s) => s.to_string_lossy(),
                    _ => "execution failure".into(),
                };
                let message: String = message.chars().take(100).collect();
                Reply::Error(format!("ERR Error running script {name}, {message}").into())
            }
            Err(e) => Reply::Error(format!("ERR Error running script {name}, {e}").into()),
        })
    }

    /// Runs library code in the loading environment and returns the
    /// functions it registered (FUNCTION LOAD's check and every engine's
    /// reload); the error is Redis's message without its code.
    pub fn load(&mut self, code: &[u8]) -> Result<Vec<(FunctionInfo, Function)>, String> {
        let (_, body) = super::functions::parse_metadata(code)?;
        let chunk = self
            .lua
            .load(body)
            .set_name("@user_function")
            .set_mode(ChunkMode::Text)
            .set_environment(self.function_env.clone())
            .into_function()
            .map_err(|e| format!("Error compiling function: {}", lua_message(&e)))?;
        self.function_env_meta
            .raw_set("__index", self.load_globals.clone())
            .map_err(|e| e.to_string())?;
        REGISTERED.with(|r| *r.borrow_mut() = Some(Vec::new()));
        LOAD_DEADLINE.with(|d| d.set(Some(Instant::now() + LOAD_TIME_LIMIT)));
        // SAFETY: as in `call_protected`, with no arguments.
        let result = unsafe {
            self.lua
                .exec_raw::<(bool, Value)>((self.handler.clone(), chunk), |state| {
                    ffi::lua_sethook(state, Some(hook), ffi::LUA_MASKCOUNT, HOOK_INSTRUCTIONS);
                    let handler = ffi::lua_gettop(state) - 1;
                    let status = ffi::lua_pcall(state, 0, 1, handler);
                    ffi::lua_sethook(state, None, 0, 0);
                    ffi::lua_pushboolean(state, c_int::from(status == 0));
                    ffi::lua_replace(state, handler);
                })
        };
        LOAD_DEADLINE.with(|d| d.set(None));
        let registered = REGISTERED
            .with(|r| r.borrow_mut().take())
            .unwrap_or_default();
        self.function_env_meta
            .raw_set("__index", self.function_globals.clone())
            .map_err(|e| e.to_string())?;
        match result {
            Ok((true, _)) => {}
            Ok((false, Value::Table(error))) => {
                let message: String = error
                    .get::<Option<String>>("err")
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| "unknown error".into());
                return Err(format!("Error registering functions: {message}"));
            }
            Ok((false, other)) => {
                return Err(format!(
                    "Error registering functions: {}",
                    other.to_string().unwrap_or_default()
                ))
            }
            Err(e) => return Err(format!("Error registering functions: {e}")),
        }
        if registered.is_empty() {
            return Err("No functions registered".into());
        }
        Ok(registered)
    }
}

/// The message of a Lua error, without mlua's decorations.
fn lua_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(message) => message.clone(),
        other => other.to_string(),
    }
}

/// The count hook: stops a killed or interrupted script, marks a long one
/// busy, and bounds library loading.
unsafe extern "C-unwind" fn hook(state: *mut ffi::lua_State, _debug: *mut ffi::lua_Debug) {
    let reason = with_run(|run| run.stop_reason()).flatten().or_else(|| {
        LOAD_DEADLINE
            .with(Cell::get)
            .filter(|deadline| Instant::now() >= *deadline)
            .map(|_| "ERR FUNCTION LOAD timeout")
    });
    if let Some(reason) = reason {
        // From now on every instruction raises again, so a pcall inside
        // the script cannot swallow the stop.
        ffi::lua_sethook(state, Some(hook), ffi::LUA_MASKCOUNT, 1);
        ffi::lua_newtable(state);
        ffi::lua_pushlstring(state, reason.as_ptr().cast(), reason.len());
        ffi::lua_setfield(state, -2, c"err".as_ptr());
        ffi::lua_error(state);
    }
}

/// The engine's view of a library, for FUNCTION LOAD.
pub fn load_library(scripts: &Scripts, code: &[u8]) -> Result<Library, String> {
    let (name, _) = super::functions::parse_metadata(code)?;
    let registered = with_engine(scripts, |engine| engine.load(code))?;
    Ok(Library {
        name,
        code: Bytes::copy_from_slice(code),
        functions: registered.into_iter().map(|(info, _)| info).collect(),
    })
}
