//! The `redis` table scripts call, `math.random` as Redis replaces it, and
//! `redis.register_function` for FUNCTION LOAD. Every failure is raised
//! as Redis raises it: an error table (`luaPushError` + `luaError`), so
//! the script's error reply reads as Redis's.

use super::convert::{error_table, to_lua};
use super::engine::{with_run, Interrupt, REGISTERED};
use super::libs::{self, one, LibError, LibResult};
use super::{FunctionInfo, ScriptFlags};
use bytes::Bytes;
use mlua::{Function, Lua, MultiValue, Table, Value};

/// `math.random`'s generator: Redis's `redisLrand48`, one for the whole
/// server as in Redis (never reseeded between scripts).
static RANDOM: parking_lot::Mutex<u64> = parking_lot::Mutex::new(0x1234_abcd_330e);

/// `redis.*` as scripts see it.
pub(super) fn redis_api(lua: &Lua) -> mlua::Result<Table> {
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
    // The script debugger's calls do nothing outside a debugging session,
    // which RedRock does not have: `breakpoint` says no breakpoint was hit.
    libs::register(lua, &redis, "breakpoint", |_, _| {
        Ok(MultiValue::from_iter([Value::Boolean(false)]))
    })?;
    libs::register(lua, &redis, "debug", |_, _| Ok(MultiValue::new()))?;
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

/// The `redis` table library code sees at FUNCTION LOAD.
pub(super) fn load_api(lua: &Lua) -> mlua::Result<Table> {
    let redis = lua.create_table()?;
    libs::register(lua, &redis, "register_function", register_function)?;
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
            Value::Number(n) => argv.push(Bytes::from(number_argument(*n))),
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

/// A Lua number as a command argument, as Redis 7.2 writes it: an
/// integer when it is one (so `1e9` is `1000000000`), otherwise the
/// shortest digits that read back the same, laid out as `fpconv_dtoa`.
fn number_argument(n: f64) -> String {
    // Redis's double2ll: integral and within half the i64 range.
    const SAFE: f64 = (i64::MAX / 2) as f64;
    if n.fract() == 0.0 && (-SAFE..=SAFE).contains(&n) {
        return (n as i64).to_string();
    }
    if !n.is_finite() {
        return crate::protocol::format_double(n);
    }
    // ryu's shortest digits and decimal exponent: n = 0.DIGITS * 10^...
    let mut buffer = ryu::Buffer::new();
    let text = buffer.format_finite(n.abs());
    let (mantissa, exponent) = match text.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = format!("{int_part}{frac_part}");
    let leading = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_matches('0');
    // K: the power of ten of the last digit.
    let k = exponent - frac_part.len() as i32 + (all.len() - leading - digits.len()) as i32;
    let ndigits = digits.len() as i32;
    let exp = (k + ndigits - 1).abs();
    let mut out = String::new();
    if n < 0.0 {
        out.push('-');
    }
    if k >= 0 && exp < ndigits + 7 {
        out.push_str(digits);
        out.push_str(&"0".repeat(k as usize));
    } else if k < 0 && (k > -7 || exp < 4) {
        let offset = ndigits + k;
        if offset <= 0 {
            out.push_str("0.");
            out.push_str(&"0".repeat((-offset) as usize));
            out.push_str(digits);
        } else {
            out.push_str(&digits[..offset as usize]);
            out.push('.');
            out.push_str(&digits[offset as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        if ndigits > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if k + ndigits - 1 < 0 { '-' } else { '+' });
        out.push_str(&exp.to_string());
    }
    out
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

pub(super) fn math_random(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
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

pub(super) fn math_randomseed(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    check_in_run("math.randomseed")?;
    let args: Vec<Value> = args.into_iter().collect();
    seed_random(libs::check_integer(lua, &args, 1)? as i32);
    Ok(MultiValue::new())
}

#[cfg(test)]
mod tests {
    use super::number_argument;

    #[test]
    fn numbers_become_arguments_as_redis_writes_them() {
        for (n, text) in [
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (1e9, "1000000000"),
            (-42.0, "-42"),
            (1.5, "1.5"),
            (1e20, "1e+20"),
            (-1e20, "-1e+20"),
            (9_223_372_036_854_775_808.0, "9223372036854776000"),
            (123_456.75, "123456.75"),
            (1e-7, "1e-7"),
            (0.000_123, "0.000123"),
            (2.5e-5, "0.000025"),
            (5e18, "5e+18"),
        ] {
            assert_eq!(number_argument(n), text, "{n}");
        }
    }
}
