//! The four libraries Redis embeds in its Lua 5.1 interpreter (`cjson`,
//! `cmsgpack`, `bit` and `struct`), written in Rust so scripts that rely on
//! them behave as they do on Redis 7: same bytes out, same error messages.
//!
//! Each library function is a Rust callback behind a small C trampoline.
//! The trampoline exists for error fidelity: Redis's libraries raise plain
//! Lua string errors through `luaL_error` / `luaL_argerror`, which prefix the
//! caller's position ("user_script:1: ") or name the function
//! ("bad argument #1 to 'encode'"). mlua would raise its own error userdata
//! instead, so callbacks report failures as values and the trampoline turns
//! them into the very same Lua errors the C libraries raise.

mod bit;
mod cjson;
mod cmsgpack;
mod structlib;

use std::os::raw::c_int;

use mlua::{ffi, Function, Lua, MultiValue, Table, Value};

/// Installs `cjson`, `cmsgpack`, `bit` and `struct` as globals of `lua`.
pub fn install(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    globals.set("cjson", cjson::module(lua)?)?;
    globals.set("cmsgpack", cmsgpack::module(lua)?)?;
    globals.set("bit", bit::module(lua)?)?;
    globals.set("struct", structlib::module(lua)?)?;
    Ok(())
}

/// A library failure, raised in Lua the way the C libraries raise it.
#[derive(Debug)]
pub(crate) enum LibError {
    /// `luaL_argerror(L, n, msg)`: "bad argument #n to 'f' (msg)".
    Arg(i32, String),
    /// `luaL_error(L, msg)`: the caller's "source:line: " then msg.
    Msg(String),
    /// `lua_error` with msg as is (what the Lua core raises, such as
    /// "table index is nil").
    Raw(String),
    /// `lua_error` with this value: Redis raises tables (`{err=...}`).
    Value(Value),
    /// A failure inside mlua itself (out of memory and the like).
    Lua(mlua::Error),
}

impl From<mlua::Error> for LibError {
    fn from(e: mlua::Error) -> Self {
        LibError::Lua(e)
    }
}

pub(crate) type LibResult<T> = Result<T, LibError>;

/// Status codes the callback puts before its results for the trampoline.
const STATUS_OK: i64 = 0;
const STATUS_MSG: i64 = 1;
const STATUS_RAW: i64 = 2;
/// Argument errors carry `STATUS_ARG + n`.
const STATUS_ARG: i64 = 1000;

/// Calls the Rust callback (upvalue 1) with this function's arguments; the
/// callback returns a status code then either its results or a message.
/// No Rust value with a destructor lives here, so `lua_error`'s longjmp over
/// this frame is as safe as it is for C code.
unsafe extern "C-unwind" fn trampoline(state: *mut ffi::lua_State) -> c_int {
    let nargs = ffi::lua_gettop(state);
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_insert(state, 1);
    ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
    let nres = ffi::lua_gettop(state);
    let status = ffi::lua_tointeger(state, 1) as i64;
    match status {
        STATUS_OK => nres - 1,
        STATUS_MSG => {
            // Level 1 is the caller of this C function, as for luaL_error.
            ffi::luaL_where(state, 1);
            ffi::lua_pushvalue(state, 2);
            ffi::lua_concat(state, 2);
            ffi::lua_error(state)
        }
        STATUS_RAW => {
            ffi::lua_pushvalue(state, 2);
            ffi::lua_error(state)
        }
        _ => {
            let msg = ffi::lua_tolstring(state, 2, std::ptr::null_mut());
            ffi::luaL_argerror(state, (status - STATUS_ARG) as c_int, msg)
        }
    }
}

/// Wraps a library callback into a Lua function that raises C-style errors.
pub(crate) fn function<F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, MultiValue) -> LibResult<MultiValue> + 'static,
{
    let inner = lua.create_function(move |lua, args: MultiValue| {
        let mut out = MultiValue::new();
        match f(lua, args) {
            Ok(values) => {
                out.push_back(Value::Integer(STATUS_OK));
                out.extend(values);
            }
            Err(LibError::Lua(e)) => return Err(e),
            Err(LibError::Msg(m)) => {
                out.push_back(Value::Integer(STATUS_MSG));
                out.push_back(Value::String(lua.create_string(m)?));
            }
            Err(LibError::Raw(m)) => {
                out.push_back(Value::Integer(STATUS_RAW));
                out.push_back(Value::String(lua.create_string(m)?));
            }
            Err(LibError::Value(v)) => {
                out.push_back(Value::Integer(STATUS_RAW));
                out.push_back(v);
            }
            Err(LibError::Arg(n, m)) => {
                out.push_back(Value::Integer(STATUS_ARG + i64::from(n)));
                out.push_back(Value::String(lua.create_string(m)?));
            }
        }
        Ok(out)
    })?;
    // SAFETY: pushcclosure pops the one argument (the callback) and pushes
    // the closure, which exec_raw returns.
    unsafe {
        lua.exec_raw(inner, |state| {
            ffi::lua_pushcclosure(state, trampoline, 1);
        })
    }
}

/// A callback's single result.
pub(crate) fn one(value: Value) -> LibResult<MultiValue> {
    Ok(MultiValue::from_iter([value]))
}

/// Registers `f` as `table[name]`.
pub(crate) fn register<F>(lua: &Lua, table: &Table, name: &str, f: F) -> mlua::Result<()>
where
    F: Fn(&Lua, MultiValue) -> LibResult<MultiValue> + 'static,
{
    table.raw_set(name, function(lua, f)?)
}

/// Lua's name for a value's type, as `luaL_typename` gives it.
pub(crate) fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::LightUserData(_)) | Some(Value::UserData(_)) => "userdata",
        Some(Value::Integer(_)) | Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

/// A number value as f64, without coercion.
pub(crate) fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// `luaL_checknumber`: a number, or a string Lua converts to one.
pub(crate) fn check_number(lua: &Lua, args: &[Value], n: usize) -> LibResult<f64> {
    let v = args.get(n - 1);
    if let Some(v) = v {
        if let Some(x) = as_number(v) {
            return Ok(x);
        }
        if let Value::String(_) = v {
            if let Some(x) = lua.coerce_number(v.clone())? {
                return Ok(x);
            }
        }
    }
    Err(type_error(n, "number", v))
}

/// `luaL_checkinteger`: like [`check_number`], truncated toward zero as
/// Lua 5.1 does on x86-64.
pub(crate) fn check_integer(lua: &Lua, args: &[Value], n: usize) -> LibResult<i64> {
    check_number(lua, args, n).map(f64_to_i64)
}

/// `luaL_optinteger`.
pub(crate) fn opt_integer(lua: &Lua, args: &[Value], n: usize, default: i64) -> LibResult<i64> {
    match args.get(n - 1) {
        None | Some(Value::Nil) => Ok(default),
        Some(_) => check_integer(lua, args, n),
    }
}

/// `luaL_checklstring`: a string, or a number converted to one.
pub(crate) fn check_bytes(lua: &Lua, args: &[Value], n: usize) -> LibResult<Vec<u8>> {
    let v = args.get(n - 1);
    match v {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Integer(_)) | Some(Value::Number(_)) => {
            match lua.coerce_string(v.cloned().unwrap_or(Value::Nil))? {
                Some(s) => Ok(s.as_bytes().to_vec()),
                None => Err(type_error(n, "string", v)),
            }
        }
        _ => Err(type_error(n, "string", v)),
    }
}

/// `luaL_typerror`: "<expected> expected, got <type>".
pub(crate) fn type_error(n: usize, expected: &str, got: Option<&Value>) -> LibError {
    LibError::Arg(
        n as i32,
        format!("{expected} expected, got {}", type_name(got)),
    )
}

/// A double to a 64-bit integer the way x86-64's cvttsd2si converts it:
/// truncated, and 0x8000000000000000 when out of range or NaN.
pub(crate) fn f64_to_i64(n: f64) -> i64 {
    // NaN is in no range, so it takes the out-of-range value too.
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n) {
        n as i64
    } else {
        i64::MIN
    }
}

/// Formats `n` with C's `%.<precision>g`.
pub(crate) fn format_g(n: f64, precision: usize) -> String {
    let mut buf = [0u8; 64];
    // SAFETY: the buffer is large enough for any %.Ng with N <= 17 and
    // snprintf bounds its writes by the length given.
    let len = unsafe {
        libc::snprintf(
            buf.as_mut_ptr().cast(),
            buf.len(),
            c"%.*g".as_ptr(),
            precision as c_int,
            n,
        )
    };
    String::from_utf8_lossy(&buf[..(len.max(0) as usize).min(buf.len() - 1)]).into_owned()
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Runs snippets in a Lua state with the libraries installed.

    use mlua::{Lua, Value};

    pub fn lua() -> Lua {
        let lua = Lua::new();
        super::install(&lua).unwrap();
        lua
    }

    /// Runs `code` as chunk "user_script" and returns its first result
    /// rendered as bytes (strings as they are, numbers with %.14g,
    /// booleans, nil), or the error message.
    pub fn run(lua: &Lua, code: &str) -> Result<Vec<u8>, String> {
        let v: Value = lua
            .load(code)
            .set_name("=user_script")
            .eval()
            .map_err(|e| match e {
                // mlua appends a traceback; the message is what precedes it.
                mlua::Error::RuntimeError(m) => match m.split_once("\nstack traceback:") {
                    Some((msg, _)) => msg.to_string(),
                    None => m,
                },
                other => other.to_string(),
            })?;
        Ok(render(&v))
    }

    pub fn render(v: &Value) -> Vec<u8> {
        match v {
            Value::Nil => b"nil".to_vec(),
            Value::Boolean(b) => b.to_string().into_bytes(),
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Integer(i) => i.to_string().into_bytes(),
            Value::Number(n) => super::format_g(*n, 14).into_bytes(),
            Value::Table(t) => {
                let mut out = b"{".to_vec();
                for (i, v) in t.clone().sequence_values::<Value>().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend(render(&v.unwrap()));
                }
                out.push(b'}');
                out
            }
            other => other.type_name().as_bytes().to_vec(),
        }
    }

    /// Asserts `code` returns `expected` (bytes).
    #[track_caller]
    pub fn ok(lua: &Lua, code: &str, expected: &[u8]) {
        match run(lua, code) {
            Ok(got) => assert_eq!(
                got,
                expected,
                "{code}: got {:?}",
                String::from_utf8_lossy(&got)
            ),
            Err(e) => panic!("{code}: unexpected error {e}"),
        }
    }

    /// Asserts `code` fails with exactly `expected` as the error message.
    #[track_caller]
    pub fn err(lua: &Lua, code: &str, expected: &str) {
        match run(lua, code) {
            Ok(got) => panic!(
                "{code}: expected error, got {:?}",
                String::from_utf8_lossy(&got)
            ),
            Err(e) => assert_eq!(e, expected, "{code}"),
        }
    }
}
