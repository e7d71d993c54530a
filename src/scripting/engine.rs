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

use super::convert::{error_table, to_lua, to_reply};
use super::libs::{self, LibError, LibResult};
use super::running::RunningScript;
use super::{FunctionInfo, Library, Script, ScriptFlags, Scripts};
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
    interrupted: bool,
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
    static REGISTERED: RefCell<Option<Vec<(FunctionInfo, Function)>>> = const { RefCell::new(None) };
}

/// `math.random`'s generator: Redis's `redisLrand48`, one for the whole
/// server as in Redis (never reseeded between scripts).
static RANDOM: parking_lot::Mutex<u64> = parking_lot::Mutex::new(0x1234_abcd_330e);

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
fn with_run<R>(f: impl FnOnce(&mut Run<'_>) -> R) -> Option<R> {
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
        globals.raw_set("redis", redis_api(&lua)?)?;
        let math: Table = globals.raw_get("math")?;
        libs::register(&lua, &math, "random", math_random)?;
        libs::register(&lua, &math, "randomseed", math_randomseed)?;
        let load_redis = lua.create_table()?;
        libs::register(&lua, &load_redis, "register_function", register_function)?;
        add_log_and_version(&lua, &load_redis)?;
        let readonly = libs::function(&lua, |_, _| Err(LibError::Msg(READONLY.into())))?;
        let missing = libs::function(&lua, missing_global)?;
        let setup: (Function, Table, Table, Table, Table, Table, Table, Table) = lua
            .load(SANDBOX)
            .set_name("=sandbox")
            .call((load_redis, readonly, missing))?;
        let (
            handler,
            eval_env,
            eval_globals,
            function_env,
            function_env_meta,
            function_globals,
            load_globals,
            protected,
        ) = setup;
        lua.set_named_registry_value(PROTECTED, protected)?;
        libs::register(&lua, &globals, "rawset", rawset)?;
        libs::register(&lua, &globals, "setmetatable", setmetatable)?;
        Ok(Engine {
            lua,
            handler,
            eval_env,
            eval_globals,
            function_env,
            function_env_meta,
            function_globals,
            load_globals,
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

/// The registry entry of the set of tables scripts must not change.
const PROTECTED: &str = "redrock.protected";

fn is_protected(lua: &Lua, table: &Table) -> LibResult<bool> {
    let protected: Table = lua.named_registry_value(PROTECTED)?;
    Ok(protected
        .raw_get::<Option<bool>>(table.clone())?
        .unwrap_or(false))
}

const READONLY: &str = "Attempt to modify a readonly table";

/// The `__index` of the globals: reading a global that does not exist is
/// an error.
fn missing_global(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    let name = args
        .get(1)
        .and_then(|name| lua.coerce_string(name.clone()).ok().flatten())
        .map(|name| name.to_string_lossy())
        .unwrap_or_default();
    Err(LibError::Msg(format!(
        "Script attempted to access nonexistent global variable '{name}'"
    )))
}

/// The base library's `rawset`, refusing the protected tables as Redis's
/// read-only tables do.
fn rawset(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    let args: Vec<Value> = args.into_iter().collect();
    let Some(Value::Table(table)) = args.first() else {
        return Err(libs::type_error(1, "table", args.first()));
    };
    for n in [2, 3] {
        if args.len() < n {
            return Err(LibError::Arg(n as i32, "value expected".into()));
        }
    }
    if is_protected(lua, table)? {
        return Err(LibError::Raw(READONLY.into()));
    }
    match &args[1] {
        Value::Nil => return Err(LibError::Raw("table index is nil".into())),
        Value::Number(n) if n.is_nan() => return Err(LibError::Raw("table index is NaN".into())),
        _ => {}
    }
    table.raw_set(args[1].clone(), args[2].clone())?;
    one(Value::Table(table.clone()))
}

/// The base library's `setmetatable`, refusing the protected tables.
fn setmetatable(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    let args: Vec<Value> = args.into_iter().collect();
    let Some(Value::Table(table)) = args.first() else {
        return Err(libs::type_error(1, "table", args.first()));
    };
    let metatable = match args.get(1) {
        Some(Value::Nil) => None,
        Some(Value::Table(t)) => Some(t.clone()),
        _ => return Err(LibError::Arg(2, "nil or table expected".into())),
    };
    if is_protected(lua, table)? {
        return Err(LibError::Raw(READONLY.into()));
    }
    if let Some(current) = table.metatable() {
        if !current.raw_get::<Value>("__metatable")?.is_nil() {
            return Err(LibError::Msg("cannot change a protected metatable".into()));
        }
    }
    table.set_metatable(metatable)?;
    one(Value::Table(table.clone()))
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

/// Lua code run once per state, with the real globals: Redis's error
/// handler and pcall, then the protection of the globals. Returns the
/// handler and the environments.
const SANDBOX: &str = r#"
local load_redis, readonly, missing = ...
local dbg = debug
local type, tostring, error, setmetatable, rawpcall = type, tostring, error, setmetatable, pcall

local function handler(err)
  local i = dbg.getinfo(2, 'nSl')
  if i and i.what == 'C' then
    i = dbg.getinfo(3, 'nSl')
  end
  if type(err) ~= 'table' then
    err = {err = 'ERR ' .. tostring(err)}
  end
  if i then
    err['source'] = i.source
    err['line'] = i.currentline
  end
  return err
end

-- Redis 7 raises tables from redis.call; pcall hands their message back
-- as older versions did.
local function tidy(ok, ...)
  if ok then return ok, ... end
  local e = ...
  if type(e) == 'table' then
    local message = e.err
    if type(message) == 'string' or type(message) == 'number' then
      return false, message
    end
  end
  return false, e
end
pcall = function(...) return tidy(rawpcall(...)) end

-- Every table a script must not change, for rawset and setmetatable.
local protected = setmetatable({}, {__mode = 'k'})
local function protect(t)
  local proxy = setmetatable({}, {__index = t, __newindex = readonly, __metatable = false})
  protected[proxy] = true
  protected[t] = true
  return proxy
end

local real = _G
debug = nil
_G = nil
for _, name in ipairs({'string', 'math', 'table', 'coroutine', 'cjson', 'cmsgpack', 'bit', 'struct', 'redis'}) do
  real[name] = protect(real[name])
end
setmetatable(real, {__index = missing, __newindex = readonly, __metatable = false})

local function environment(globals)
  local meta = {__index = globals, __newindex = readonly, __metatable = false}
  local env = setmetatable({}, meta)
  rawset(globals, '_G', env)
  protected[env] = true
  protected[globals] = true
  return env, meta
end

local eval_globals = setmetatable({}, {__index = real})
local eval_env = environment(eval_globals)

local function_globals = setmetatable({}, {__index = real})
local function_env, function_env_meta = environment(function_globals)

setmetatable(load_redis, {__index = missing, __newindex = readonly, __metatable = false})
local load_globals = setmetatable({redis = load_redis}, {__index = missing})
rawset(load_globals, '_G', function_env)
protected[real] = true
protected[load_redis] = true
protected[load_globals] = true

return handler, eval_env, eval_globals, function_env, function_env_meta, function_globals, load_globals, protected
"#;

/// `redis.*` as scripts see it.
fn redis_api(lua: &Lua) -> mlua::Result<Table> {
    let redis = lua.create_table()?;
    libs::register(lua, &redis, "call", |lua, args| redis_call(lua, args, true))?;
    libs::register(lua, &redis, "pcall", |lua, args| {
        redis_call(lua, args, false)
    })?;
    libs::register(lua, &redis, "setresp", set_resp)?;
    libs::register(lua, &redis, "sha1hex", sha1hex)?;
    libs::register(lua, &redis, "error_reply", error_reply)?;
    libs::register(lua, &redis, "status_reply", status_reply)?;
    libs::register(lua, &redis, "set_repl", set_repl)?;
    libs::register(lua, &redis, "replicate_commands", |_, _| {
        Ok(MultiValue::from_iter([Value::Boolean(true)]))
    })?;
    libs::register(lua, &redis, "acl_check_cmd", acl_check_cmd)?;
    for (name, value) in [
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        redis.raw_set(name, value)?;
    }
    add_log_and_version(lua, &redis)?;
    Ok(redis)
}

/// `redis.log`, its levels and the version fields, which library code
/// sees at load time too.
fn add_log_and_version(lua: &Lua, redis: &Table) -> mlua::Result<()> {
    libs::register(lua, redis, "log", log)?;
    for (name, level) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
    ] {
        redis.raw_set(name, level)?;
    }
    redis.raw_set("REDIS_VERSION", crate::REDIS_VERSION)?;
    let number = crate::REDIS_VERSION
        .split('.')
        .map(|part| part.parse::<i64>().unwrap_or(0))
        .fold(0, |acc, part| (acc << 8) | part);
    redis.raw_set("REDIS_VERSION_NUM", number)?;
    Ok(())
}

/// An error raised as Redis's `luaPushError` + `luaError` raise it.
fn raise(lua: &Lua, message: &str) -> LibError {
    match error_table(lua, &format!("ERR {message}")) {
        Ok(table) => LibError::Value(table),
        Err(e) => LibError::Lua(e),
    }
}

fn one(value: Value) -> LibResult<MultiValue> {
    Ok(MultiValue::from_iter([value]))
}

fn redis_call(lua: &Lua, args: MultiValue, raise_errors: bool) -> LibResult<MultiValue> {
    let fail = |message: &str| -> LibResult<MultiValue> {
        let error = raise(lua, message);
        match error {
            LibError::Value(table) if !raise_errors => one(table),
            other => Err(other),
        }
    };
    if args.is_empty() {
        return fail("Please specify at least one argument for this redis lib call");
    }
    let mut argv = Vec::with_capacity(args.len());
    for arg in &args {
        match arg {
            Value::String(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(n) => argv.push(Bytes::from(n.to_string())),
            Value::Number(n) => argv.push(Bytes::from(libs::format_g(*n, 17))),
            _ => return fail("Lua redis lib command arguments must be strings or integers"),
        }
    }
    let called = with_run(|run| {
        let resp = run.resp;
        match run.host.call(argv, resp) {
            Ok(reply) => Ok((reply, resp)),
            Err(Interrupt) => {
                run.interrupted = true;
                Err(())
            }
        }
    });
    let (reply, resp) = match called {
        None => return fail("redis.call/pcall can only be called inside a script invocation"),
        Some(Err(())) => {
            // The hook stops the script at its next instruction; raise now
            // so nothing more of it runs before.
            return Err(raise(lua, "Script interrupted to run again"));
        }
        Some(Ok(done)) => done,
    };
    let failed = reply.is_error();
    let value = to_lua(lua, reply, resp)?;
    if failed && raise_errors {
        return Err(LibError::Value(value));
    }
    one(value)
}

fn set_resp(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    if args.len() != 1 {
        return Err(raise(lua, "redis.setresp() requires one argument."));
    }
    let resp = libs::as_number(&args[0])
        .or_else(|| lua.coerce_number(args[0].clone()).ok().flatten())
        .map_or(0, libs::f64_to_i64);
    if resp != 2 && resp != 3 {
        return Err(raise(lua, "RESP version must be 2 or 3."));
    }
    match with_run(|run| run.resp = resp as u8) {
        Some(()) => Ok(MultiValue::new()),
        None => Err(raise(
            lua,
            "redis.setresp can only be called inside a script invocation",
        )),
    }
}

fn sha1hex(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    if args.len() != 1 {
        return Err(raise(lua, "wrong number of arguments"));
    }
    let bytes = match &args[0] {
        Value::String(s) => s.as_bytes().to_vec(),
        v @ (Value::Integer(_) | Value::Number(_)) => lua
            .coerce_string(v.clone())?
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    one(Value::String(lua.create_string(super::sha1_hex(&bytes))?))
}

/// The single string argument of `error_reply` / `status_reply`, or the
/// error table Redis returns (not raises) when it is missing.
fn single_string(lua: &Lua, args: &MultiValue) -> Result<Vec<u8>, LibResult<MultiValue>> {
    match (args.len(), args.front()) {
        (1, Some(Value::String(s))) => Ok(s.as_bytes().to_vec()),
        _ => Err(match raise(lua, "wrong number or type of arguments") {
            LibError::Value(table) => one(table),
            other => Err(other),
        }),
    }
}

fn error_reply(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    let text = match single_string(lua, &args) {
        Ok(text) => text,
        Err(result) => return result,
    };
    let text = String::from_utf8_lossy(&text).into_owned();
    let text = text.strip_prefix('-').unwrap_or(&text);
    // "-CODE message", or a lone word that gets the ERR code.
    let full = match text.split_once(' ') {
        Some((code, message)) => format!("{code} {}", message.trim_matches(['\r', '\n'])),
        None => format!("ERR {}", text.trim_matches(['\r', '\n'])),
    };
    one(error_table(lua, &full)?)
}

fn status_reply(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    let text = match single_string(lua, &args) {
        Ok(text) => text,
        Err(result) => return result,
    };
    let table = lua.create_table()?;
    table.raw_set("ok", lua.create_string(text)?)?;
    one(Value::Table(table))
}

fn set_repl(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    if with_run(|_| ()).is_none() {
        return Err(raise(
            lua,
            "redis.set_repl can only be called inside a script invocation",
        ));
    }
    if args.len() != 1 {
        return Err(raise(lua, "redis.set_repl() requires two arguments."));
    }
    let flags = libs::as_number(&args[0]).map_or(0, libs::f64_to_i64);
    if flags & !3 != 0 {
        return Err(raise(
            lua,
            "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
        ));
    }
    Ok(MultiValue::new())
}

fn acl_check_cmd(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    if args.is_empty() {
        return Err(raise(
            lua,
            "Please specify at least one argument for this redis lib call",
        ));
    }
    let mut argv = Vec::with_capacity(args.len());
    for arg in &args {
        match lua.coerce_string(arg.clone())? {
            Some(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
            None => {
                return Err(raise(
                    lua,
                    "Lua redis lib command arguments must be strings or integers",
                ))
            }
        }
    }
    match with_run(|run| run.host.knows_command(&argv)) {
        None => Err(raise(
            lua,
            "redis.acl_check_cmd can only be called inside a script invocation",
        )),
        Some(false) => Err(raise(
            lua,
            "Invalid command passed to redis.acl_check_cmd()",
        )),
        // Every user may run every command until ACLs exist.
        Some(true) => one(Value::Boolean(true)),
    }
}

fn log(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    if args.len() < 2 {
        return Err(raise(lua, "redis.log() requires two arguments or more."));
    }
    let Some(level) =
        libs::as_number(&args[0]).or_else(|| lua.coerce_number(args[0].clone()).ok().flatten())
    else {
        return Err(raise(lua, "First argument must be a number (log level)."));
    };
    let level = libs::f64_to_i64(level);
    if !(0..=3).contains(&level) {
        return Err(raise(lua, "Invalid debug level."));
    }
    let mut line = String::new();
    for arg in args.iter().skip(1) {
        if let Ok(Some(s)) = lua.coerce_string(arg.clone()) {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&s.to_string_lossy());
        }
    }
    match level {
        0 | 1 => tracing::debug!(target: "script", "{line}"),
        2 => tracing::info!(target: "script", "{line}"),
        _ => tracing::warn!(target: "script", "{line}"),
    }
    Ok(MultiValue::new())
}

/// A name argument of `register_function`: a string, or a number as
/// `lua_isstring` accepts it.
fn name_of(lua: &Lua, value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.to_string_lossy()),
        Value::Integer(_) | Value::Number(_) => lua
            .coerce_string(value.clone())
            .ok()
            .flatten()
            .map(|s| s.to_string_lossy()),
        _ => None,
    }
}

/// `redis.register_function{function_name=, callback=, flags=, description=}`.
fn named_registration(
    lua: &Lua,
    spec: &Table,
) -> LibResult<(String, Function, ScriptFlags, Option<String>)> {
    let mut name = None;
    let mut callback = None;
    let mut flags = ScriptFlags::default();
    let mut description = None;
    for pair in spec.pairs::<Value, Value>() {
        let (key, value) = pair?;
        let Some(key) = name_of(lua, &key) else {
            return Err(raise(
                lua,
                "named argument key given to redis.register_function is not a string",
            ));
        };
        match key.to_ascii_lowercase().as_str() {
            "function_name" => {
                match name_of(lua, &value) {
                    Some(n) => name = Some(n),
                    None => return Err(raise(
                        lua,
                        "function_name argument given to redis.register_function must be a string",
                    )),
                }
            }
            "description" => {
                match name_of(lua, &value) {
                    Some(d) => description = Some(d),
                    None => return Err(raise(
                        lua,
                        "description argument given to redis.register_function must be a string",
                    )),
                }
            }
            "callback" => match value {
                Value::Function(f) => callback = Some(f),
                _ => {
                    return Err(raise(
                        lua,
                        "callback argument given to redis.register_function must be a function",
                    ))
                }
            },
            "flags" => {
                let Value::Table(list) = value else {
                    return Err(raise(lua, "flags argument to redis.register_function must be a table representing function flags"));
                };
                for flag in list.sequence_values::<Value>() {
                    let parsed = match flag? {
                        Value::String(s) => {
                            ScriptFlags::parse(&s.to_string_lossy().to_ascii_lowercase())
                        }
                        _ => None,
                    };
                    match parsed {
                        Some(f) => flags = flags.union(f),
                        None => return Err(raise(lua, "unknown flag given")),
                    }
                }
            }
            _ => {
                return Err(raise(
                    lua,
                    "unknown argument given to redis.register_function",
                ))
            }
        }
    }
    let Some(name) = name else {
        return Err(raise(
            lua,
            "redis.register_function must get a function name argument",
        ));
    };
    let Some(callback) = callback else {
        return Err(raise(
            lua,
            "redis.register_function must get a callback argument",
        ));
    };
    Ok((name, callback, flags, description))
}

/// `redis.register_function(name, callback)` or the named form, at
/// FUNCTION LOAD.
fn register_function(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    if REGISTERED.with(|r| r.borrow().is_none()) {
        return Err(raise(
            lua,
            "redis.register_function can only be called on FUNCTION LOAD command",
        ));
    }
    let (name, callback, flags, description) = match args.len() {
        1 => match &args[0] {
            Value::Table(spec) => named_registration(lua, spec)?,
            _ => return Err(raise(lua, "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).")),
        },
        2 => {
            let Some(name) = name_of(lua, &args[0]) else {
                return Err(raise(
                    lua,
                    "first argument to redis.register_function must be a string",
                ));
            };
            let Value::Function(callback) = &args[1] else {
                return Err(raise(
                    lua,
                    "second argument to redis.register_function must be a function",
                ));
            };
            (name, callback.clone(), ScriptFlags::default(), None)
        }
        _ => {
            return Err(raise(
                lua,
                "wrong number of arguments to redis.register_function",
            ))
        }
    };
    if !super::functions::valid_name(&name) {
        return Err(raise(lua, super::functions::INVALID_NAME));
    }
    let duplicate = REGISTERED.with(|r| {
        let mut registered = r.borrow_mut();
        let list = registered.get_or_insert_with(Vec::new);
        if list.iter().any(|(info, _)| info.name == name) {
            return true;
        }
        list.push((
            FunctionInfo {
                name,
                description,
                flags,
            },
            callback,
        ));
        false
    });
    if duplicate {
        return Err(raise(lua, "Function already exists in the library"));
    }
    Ok(MultiValue::new())
}

/// Redis's `redisSrand48`.
fn seed_random(seed: i32) {
    *RANDOM.lock() = (u64::from(seed as u32) << 16) | 0x330e;
}

/// Redis's `redisLrand48`: a 48-bit linear congruential generator.
fn next_random() -> i32 {
    let mut state = RANDOM.lock();
    *state = state.wrapping_mul(0x5_deec_e66d).wrapping_add(0xb) & 0xffff_ffff_ffff;
    (*state >> 17) as i32
}

/// `math.random` and `math.randomseed` work inside a script only.
fn check_in_run(name: &str) -> LibResult<()> {
    match with_run(|_| ()) {
        Some(()) => Ok(()),
        None => Err(LibError::Msg(format!(
            "{name} can only be called inside a script invocation"
        ))),
    }
}

fn math_random(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    check_in_run("math.random")?;
    let args: Vec<Value> = args.into_iter().collect();
    const MAX: i32 = i32::MAX;
    let r = f64::from(next_random() % MAX) / f64::from(MAX);
    let n = match args.len() {
        0 => r,
        1 => {
            let upper = libs::check_integer(lua, &args, 1)? as i32;
            if upper < 1 {
                return Err(LibError::Arg(1, "interval is empty".into()));
            }
            (r * f64::from(upper)).floor() + 1.0
        }
        2 => {
            let lower = libs::check_integer(lua, &args, 1)? as i32;
            let upper = libs::check_integer(lua, &args, 2)? as i32;
            if lower > upper {
                return Err(LibError::Arg(2, "interval is empty".into()));
            }
            (r * (f64::from(upper) - f64::from(lower) + 1.0)).floor() + f64::from(lower)
        }
        _ => return Err(LibError::Msg("wrong number of arguments".into())),
    };
    one(Value::Number(n))
}

fn math_randomseed(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    check_in_run("math.randomseed")?;
    let args: Vec<Value> = args.into_iter().collect();
    seed_random(libs::check_integer(lua, &args, 1)? as i32);
    Ok(MultiValue::new())
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
