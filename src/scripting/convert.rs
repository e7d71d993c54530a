//! Redis's conversions between replies and Lua values, both ways.
//!
//! A command's reply reaches the script as Redis's `redisProtocolToLuaType`
//! makes it: in RESP2 terms unless the script asked for RESP3 with
//! `redis.setresp(3)`. The script's result goes back as
//! `luaReplyToRedisReply` shapes it; the connection's own protocol then
//! decides how RESP3 types are written.

use super::libs::f64_to_i64;
use crate::protocol::{format_double, Reply};
use bytes::Bytes;
use mlua::{Lua, Table, Value};

/// How deep a returned table may nest before Redis's "reached lua stack
/// limit" answers instead (a table can contain itself); the server's
/// threads have the stack for it.
const MAX_DEPTH: usize = 5000;

/// A command's reply as the script sees it, for a script speaking `resp`.
pub fn to_lua(lua: &Lua, reply: Reply, resp: u8) -> mlua::Result<Value> {
    let resp3 = resp == 3;
    Ok(match reply {
        Reply::Status(text) => single_field(lua, "ok", Value::String(lua.create_string(&text)?))?,
        Reply::Error(text) => error_table(lua, text.trim_end_matches(['\r', '\n']))?,
        Reply::Integer(n) => Value::Number(n as f64),
        Reply::Bulk(bytes) => Value::String(lua.create_string(&bytes)?),
        Reply::Nil | Reply::NilArray if resp3 => Value::Nil,
        Reply::Nil | Reply::NilArray => Value::Boolean(false),
        Reply::Array(items) | Reply::Push(items) | Reply::Several(items) => {
            array(lua, items, resp)?
        }
        Reply::Set(items) if resp3 => {
            let set = lua.create_table_with_capacity(0, items.len())?;
            for item in items {
                set.raw_set(to_lua(lua, item, resp)?, true)?;
            }
            single_field(lua, "set", Value::Table(set))?
        }
        Reply::Set(items) => array(lua, items, resp)?,
        Reply::Map(pairs) if resp3 => {
            let map = lua.create_table_with_capacity(0, pairs.len())?;
            for (key, value) in pairs {
                map.raw_set(to_lua(lua, key, resp)?, to_lua(lua, value, resp)?)?;
            }
            single_field(lua, "map", Value::Table(map))?
        }
        Reply::Map(pairs) => array(
            lua,
            pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
            resp,
        )?,
        Reply::Double(d) if resp3 => single_field(lua, "double", Value::Number(d))?,
        Reply::Double(d) => Value::String(lua.create_string(format_double(d))?),
        Reply::DoubleText(text) if resp3 => {
            let d = std::str::from_utf8(&text).ok().and_then(|t| t.parse().ok());
            single_field(lua, "double", Value::Number(d.unwrap_or(f64::NAN)))?
        }
        Reply::DoubleText(text) => Value::String(lua.create_string(&text)?),
        Reply::Bool(b) if resp3 => Value::Boolean(b),
        Reply::Bool(b) => Value::Number(f64::from(u8::from(b))),
        Reply::Verbatim(text) if resp3 => {
            let verbatim = lua.create_table()?;
            verbatim.raw_set("string", lua.create_string(&text)?)?;
            verbatim.raw_set("format", "txt")?;
            single_field(lua, "verbatim_string", Value::Table(verbatim))?
        }
        Reply::BigNumber(digits) if resp3 => single_field(
            lua,
            "big_number",
            Value::String(lua.create_string(&digits)?),
        )?,
        Reply::Verbatim(bytes) | Reply::BigNumber(bytes) => {
            Value::String(lua.create_string(&bytes)?)
        }
    })
}

fn array(lua: &Lua, items: Vec<Reply>, resp: u8) -> mlua::Result<Value> {
    let table = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.into_iter().enumerate() {
        table.raw_set(i + 1, to_lua(lua, item, resp)?)?;
    }
    Ok(Value::Table(table))
}

fn single_field(lua: &Lua, name: &str, value: Value) -> mlua::Result<Value> {
    let table = lua.create_table_with_capacity(0, 1)?;
    table.raw_set(name, value)?;
    Ok(Value::Table(table))
}

/// Redis's error table, `{err = "CODE message"}`.
pub fn error_table(lua: &Lua, text: &str) -> mlua::Result<Value> {
    single_field(lua, "err", Value::String(lua.create_string(text)?))
}

/// The script's result as a reply; `resp` is the protocol the script chose
/// (`false` is a null in RESP2 mode, a boolean in RESP3 mode).
pub fn to_reply(value: &Value, resp: u8) -> Reply {
    to_reply_at(value, resp, 0)
}

fn to_reply_at(value: &Value, resp: u8, depth: usize) -> Reply {
    match value {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(b) if resp == 2 => {
            if *b {
                Reply::Integer(1)
            } else {
                Reply::Nil
            }
        }
        Value::Boolean(b) => Reply::Bool(*b),
        Value::Integer(n) => Reply::Integer(*n),
        Value::Number(n) => Reply::Integer(f64_to_i64(*n)),
        Value::Table(_) if depth >= MAX_DEPTH => Reply::Error("ERR reached lua stack limit".into()),
        Value::Table(table) => table_reply(table, resp, depth),
        _ => Reply::Nil,
    }
}

/// A field of a reply table, read as Redis reads it (metamethods apply).
fn field(table: &Table, name: &str) -> Value {
    table.get(name).unwrap_or(Value::Nil)
}

fn one_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace(['\r', '\n'], " ")
}

fn table_reply(table: &Table, resp: u8, depth: usize) -> Reply {
    if let Value::String(err) = field(table, "err") {
        return Reply::Error(one_line(&err.as_bytes()).into());
    }
    if let Value::String(ok) = field(table, "ok") {
        return Reply::Status(Bytes::from(one_line(&ok.as_bytes())));
    }
    match field(table, "double") {
        Value::Number(d) => return Reply::Double(d),
        Value::Integer(d) => return Reply::Double(d as f64),
        _ => {}
    }
    if let Value::String(digits) = field(table, "big_number") {
        return Reply::BigNumber(Bytes::from(one_line(&digits.as_bytes())));
    }
    if let Value::Table(verbatim) = field(table, "verbatim_string") {
        if let (Value::String(_), Value::String(text)) =
            (field(&verbatim, "format"), field(&verbatim, "string"))
        {
            return Reply::Verbatim(Bytes::copy_from_slice(&text.as_bytes()));
        }
    }
    if let Value::Table(map) = field(table, "map") {
        let pairs = map
            .pairs::<Value, Value>()
            .filter_map(|pair| pair.ok())
            .map(|(k, v)| {
                (
                    to_reply_at(&k, resp, depth + 1),
                    to_reply_at(&v, resp, depth + 1),
                )
            })
            .collect();
        return Reply::Map(pairs);
    }
    if let Value::Table(set) = field(table, "set") {
        let members = set
            .pairs::<Value, Value>()
            .filter_map(|pair| pair.ok())
            .map(|(k, _)| to_reply_at(&k, resp, depth + 1))
            .collect();
        return Reply::Set(members);
    }
    let mut items = Vec::new();
    for i in 1.. {
        let item: Value = table.get(i).unwrap_or(Value::Nil);
        if item.is_nil() {
            break;
        }
        items.push(to_reply_at(&item, resp, depth + 1));
    }
    Reply::Array(items)
}
