//! The sandbox scripts run in, as Redis 7 builds it: Redis's error handler
//! and `pcall`, and globals no script can change. Redis marks its tables
//! read-only in a patched Lua; here the globals and library tables are
//! reached through empty proxy tables whose metatables refuse writes, and
//! `rawset` / `setmetatable` refuse the protected tables.

use super::libs::{self, one, LibError, LibResult};
use mlua::{Function, Lua, MultiValue, Table, Value};

/// The environments the sandbox builds.
pub struct Sandbox {
    /// Redis's `__redis__err__handler`.
    pub handler: Function,
    pub eval_env: Table,
    pub eval_globals: Table,
    pub function_env: Table,
    pub function_env_meta: Table,
    pub function_globals: Table,
    pub load_globals: Table,
}

/// Protects the globals of `lua` (already holding every library and the
/// `redis` table) and builds the environments of EVAL scripts and of
/// library code; `load_redis` is the `redis` table library code sees at
/// FUNCTION LOAD.
pub fn build(lua: &Lua, load_redis: Table) -> mlua::Result<Sandbox> {
    let globals = lua.globals();
    let readonly = libs::function(lua, |_, _| Err(LibError::Msg(READONLY.into())))?;
    let missing = libs::function(lua, missing_global)?;
    let (
        handler,
        eval_env,
        eval_globals,
        function_env,
        function_env_meta,
        function_globals,
        load_globals,
        protected,
    ): (Function, Table, Table, Table, Table, Table, Table, Table) = lua
        .load(SANDBOX)
        .set_name("=sandbox")
        .call((load_redis, readonly, missing))?;
    lua.set_named_registry_value(PROTECTED, protected)?;
    libs::register(lua, &globals, "rawset", rawset)?;
    libs::register(lua, &globals, "setmetatable", setmetatable)?;
    Ok(Sandbox {
        handler,
        eval_env,
        eval_globals,
        function_env,
        function_env_meta,
        function_globals,
        load_globals,
    })
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
-- Redis's security releases take these out: they reach around the
-- protection of the globals.
getfenv = nil
setfenv = nil
newproxy = nil
for _, name in ipairs({'string', 'math', 'table', 'coroutine', 'cjson', 'cmsgpack', 'bit', 'struct', 'redis'}) do
  real[name] = protect(real[name])
end
-- Strings share one metatable: scripts see a protected copy of it, so no
-- script can change how strings behave for the scripts after it.
local string_meta = getmetatable('')
string_meta.__index = real.string
string_meta.__metatable = protect({__index = real.string})
setmetatable(real, {__index = missing, __newindex = readonly, __metatable = false})

local function environment(globals)
  local meta = {__index = globals, __newindex = readonly}
  meta.__metatable = protect(meta)
  local env = setmetatable({}, meta)
  rawset(globals, '_G', env)
  protected[env] = true
  protected[globals] = true
  return env, meta
end

local eval_globals = setmetatable({}, {__index = real})
local eval_env = environment(eval_globals)
rawset(eval_globals, '__redis__err__handler', handler)

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
