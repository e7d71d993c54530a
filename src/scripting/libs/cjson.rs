//! `cjson`: JSON encoding and decoding as Redis's embedded lua_cjson 2.1.0
//! does it, including its configuration functions, number formatting
//! (`%.14g` by default), sparse array rules and error messages.

use std::cell::Cell;
use std::rc::Rc;

use mlua::{LightUserData, Lua, MultiValue, Table, Value};

use super::{check_bytes, check_integer, format_g, register, type_name, LibError, LibResult};

/// Settings of one cjson instance (`cjson.new()` makes another).
struct Config {
    encode_sparse_convert: Cell<bool>,
    encode_sparse_ratio: Cell<i64>,
    encode_sparse_safe: Cell<i64>,
    encode_max_depth: Cell<i64>,
    decode_max_depth: Cell<i64>,
    /// 0 off, 1 on, 2 "null".
    encode_invalid_numbers: Cell<u8>,
    decode_invalid_numbers: Cell<bool>,
    encode_keep_buffer: Cell<bool>,
    encode_number_precision: Cell<i64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            encode_sparse_convert: Cell::new(false),
            encode_sparse_ratio: Cell::new(2),
            encode_sparse_safe: Cell::new(10),
            encode_max_depth: Cell::new(1000),
            decode_max_depth: Cell::new(1000),
            encode_invalid_numbers: Cell::new(0),
            decode_invalid_numbers: Cell::new(true),
            encode_keep_buffer: Cell::new(true),
            encode_number_precision: Cell::new(14),
        }
    }
}

/// `cjson.null`: a NULL light userdata, as in lua_cjson.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// Builds a `cjson` table with its own settings.
pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let cfg = Rc::new(Config::default());
    let t = lua.create_table()?;

    let c = cfg.clone();
    register(lua, &t, "encode", move |lua, args| {
        let args: Vec<Value> = args.into_iter().collect();
        if args.len() != 1 {
            return Err(LibError::Arg(1, "expected 1 argument".into()));
        }
        let mut enc = Encoder {
            cfg: &c,
            out: Vec::new(),
            depth: 0,
        };
        enc.value(&args[0])?;
        one(Value::String(lua.create_string(&enc.out)?))
    })?;

    let c = cfg.clone();
    register(lua, &t, "decode", move |lua, args| {
        let args: Vec<Value> = args.into_iter().collect();
        if args.len() != 1 {
            return Err(LibError::Arg(1, "expected 1 argument".into()));
        }
        let text = check_bytes(lua, &args, 1)?;
        one(decode(lua, &c, &text)?)
    })?;

    let c = cfg.clone();
    register(lua, &t, "encode_sparse_array", move |lua, args| {
        let args = arg_init(args, 3)?;
        if let Some(b) = bool_option(lua, &args, 1, &["off", "on"])? {
            c.encode_sparse_convert.set(b == 1);
        }
        int_option(lua, &args, 2, &c.encode_sparse_ratio, 0, i32::MAX as i64)?;
        int_option(lua, &args, 3, &c.encode_sparse_safe, 0, i32::MAX as i64)?;
        Ok(MultiValue::from_vec(vec![
            Value::Boolean(c.encode_sparse_convert.get()),
            Value::Integer(c.encode_sparse_ratio.get()),
            Value::Integer(c.encode_sparse_safe.get()),
        ]))
    })?;

    let c = cfg.clone();
    register(lua, &t, "encode_max_depth", move |lua, args| {
        let args = arg_init(args, 1)?;
        int_option(lua, &args, 1, &c.encode_max_depth, 1, i32::MAX as i64)?;
        one(Value::Integer(c.encode_max_depth.get()))
    })?;

    let c = cfg.clone();
    register(lua, &t, "decode_max_depth", move |lua, args| {
        let args = arg_init(args, 1)?;
        int_option(lua, &args, 1, &c.decode_max_depth, 1, i32::MAX as i64)?;
        one(Value::Integer(c.decode_max_depth.get()))
    })?;

    let c = cfg.clone();
    register(lua, &t, "encode_number_precision", move |lua, args| {
        let args = arg_init(args, 1)?;
        int_option(lua, &args, 1, &c.encode_number_precision, 1, 14)?;
        one(Value::Integer(c.encode_number_precision.get()))
    })?;

    let c = cfg.clone();
    register(lua, &t, "encode_keep_buffer", move |lua, args| {
        let args = arg_init(args, 1)?;
        if let Some(b) = bool_option(lua, &args, 1, &["off", "on"])? {
            c.encode_keep_buffer.set(b == 1);
        }
        one(Value::Boolean(c.encode_keep_buffer.get()))
    })?;

    let c = cfg.clone();
    register(lua, &t, "encode_invalid_numbers", move |lua, args| {
        let args = arg_init(args, 1)?;
        if let Some(v) = bool_option(lua, &args, 1, &["off", "on", "null"])? {
            c.encode_invalid_numbers.set(v);
        }
        one(match c.encode_invalid_numbers.get() {
            0 => Value::Boolean(false),
            1 => Value::Boolean(true),
            _ => Value::String(lua.create_string("null")?),
        })
    })?;

    let c = cfg.clone();
    register(lua, &t, "decode_invalid_numbers", move |lua, args| {
        let args = arg_init(args, 1)?;
        if let Some(b) = bool_option(lua, &args, 1, &["off", "on"])? {
            c.decode_invalid_numbers.set(b == 1);
        }
        one(Value::Boolean(c.decode_invalid_numbers.get()))
    })?;

    register(lua, &t, "new", |lua, _| one(Value::Table(module(lua)?)))?;

    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    t.raw_set("null", null())?;
    Ok(t)
}

fn one(v: Value) -> LibResult<MultiValue> {
    Ok(MultiValue::from_vec(vec![v]))
}

/// Rejects more than `max` arguments, as lua_cjson's option functions do.
fn arg_init(args: MultiValue, max: usize) -> LibResult<Vec<Value>> {
    let args: Vec<Value> = args.into_iter().collect();
    if args.len() > max {
        return Err(LibError::Arg(
            max as i32 + 1,
            "found too many arguments".into(),
        ));
    }
    Ok(args)
}

/// An enumerated option: a boolean (off/on) or one of `names` (by index).
/// `None` when the argument is absent or nil (the setting is only read).
fn bool_option(lua: &Lua, args: &[Value], n: usize, names: &[&str]) -> LibResult<Option<u8>> {
    match args.get(n - 1) {
        None | Some(Value::Nil) => Ok(None),
        Some(Value::Boolean(b)) => Ok(Some(u8::from(*b))),
        Some(_) => {
            let s = check_bytes(lua, args, n)?;
            match names.iter().position(|name| name.as_bytes() == s) {
                Some(i) => Ok(Some(i as u8)),
                None => Err(LibError::Arg(
                    n as i32,
                    format!("invalid option '{}'", String::from_utf8_lossy(&s)),
                )),
            }
        }
    }
}

/// An integer option within `min..=max`. lua_cjson reports the range error
/// against argument #1 whichever argument it is; so does this.
fn int_option(
    lua: &Lua,
    args: &[Value],
    n: usize,
    setting: &Cell<i64>,
    min: i64,
    max: i64,
) -> LibResult<()> {
    match args.get(n - 1) {
        None | Some(Value::Nil) => Ok(()),
        Some(_) => {
            let v = check_integer(lua, args, n)?;
            if v < min || v > max {
                return Err(LibError::Arg(
                    1,
                    format!("expected integer between {min} and {max}"),
                ));
            }
            setting.set(v);
            Ok(())
        }
    }
}

struct Encoder<'a> {
    cfg: &'a Config,
    out: Vec<u8>,
    depth: i64,
}

impl Encoder<'_> {
    fn value(&mut self, v: &Value) -> LibResult<()> {
        match v {
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::Boolean(true) => self.out.extend_from_slice(b"true"),
            Value::Boolean(false) => self.out.extend_from_slice(b"false"),
            Value::Integer(i) => self.number(*i as f64)?,
            Value::Number(n) => self.number(*n)?,
            Value::String(s) => escape(&mut self.out, &s.as_bytes()),
            Value::LightUserData(p) if p.0.is_null() => self.out.extend_from_slice(b"null"),
            Value::Table(t) => self.table(t)?,
            other => {
                return Err(LibError::Msg(format!(
                    "Cannot serialise {}: type not supported",
                    type_name(Some(other))
                )))
            }
        }
        Ok(())
    }

    fn number(&mut self, n: f64) -> LibResult<()> {
        if !n.is_finite() {
            match self.cfg.encode_invalid_numbers.get() {
                0 => {
                    return Err(LibError::Msg(
                        "Cannot serialise number: must not be NaN or Inf".into(),
                    ))
                }
                2 => {
                    self.out.extend_from_slice(b"null");
                    return Ok(());
                }
                _ if n.is_nan() => {
                    self.out.extend_from_slice(b"nan");
                    return Ok(());
                }
                _ => {}
            }
        }
        let precision = self.cfg.encode_number_precision.get() as usize;
        self.out
            .extend_from_slice(format_g(n, precision).as_bytes());
        Ok(())
    }

    fn table(&mut self, t: &Table) -> LibResult<()> {
        self.depth += 1;
        if self.depth > self.cfg.encode_max_depth.get() {
            return Err(LibError::Msg(format!(
                "Cannot serialise, excessive nesting ({})",
                self.depth
            )));
        }
        match self.array_length(t)? {
            Some(len) if len > 0 => {
                self.out.push(b'[');
                for i in 1..=len {
                    if i > 1 {
                        self.out.push(b',');
                    }
                    let v: Value = t.raw_get(i)?;
                    self.value(&v)?;
                }
                self.out.push(b']');
            }
            _ => {
                self.out.push(b'{');
                let mut first = true;
                for pair in t.pairs::<Value, Value>() {
                    let (k, v) = pair?;
                    if !first {
                        self.out.push(b',');
                    }
                    first = false;
                    match &k {
                        Value::Integer(_) | Value::Number(_) => {
                            self.out.push(b'"');
                            self.number(super::as_number(&k).unwrap_or(0.0))?;
                            self.out.extend_from_slice(b"\":");
                        }
                        Value::String(s) => {
                            escape(&mut self.out, &s.as_bytes());
                            self.out.push(b':');
                        }
                        other => {
                            return Err(LibError::Msg(format!(
                                "Cannot serialise {}: table key must be a number or string",
                                type_name(Some(other))
                            )))
                        }
                    }
                    self.value(&v)?;
                }
                self.out.push(b'}');
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// The array length when every key is a positive integer (the largest
    /// key), `None` when the table must be an object. Excessively sparse
    /// arrays are an error, or an object when conversion is enabled.
    fn array_length(&self, t: &Table) -> LibResult<Option<usize>> {
        // lua_cjson keeps the largest key in a C int: a key of 2^31 or more
        // stores INT_MIN there (as x86-64 converts), which then reads as
        // "not an array". Mirror that so such tables become objects.
        let mut max: i32 = 0;
        let mut items: i64 = 0;
        for pair in t.pairs::<Value, Value>() {
            let (k, _) = pair?;
            match super::as_number(&k) {
                Some(n) if n >= 1.0 && n.floor() == n => {
                    if n > f64::from(max) {
                        max = if n < 2_147_483_648.0 {
                            n as i32
                        } else {
                            i32::MIN
                        };
                    }
                    items += 1;
                }
                _ => return Ok(None),
            }
        }
        let ratio = self.cfg.encode_sparse_ratio.get();
        if ratio > 0
            && i64::from(max) > items * ratio
            && i64::from(max) > self.cfg.encode_sparse_safe.get()
        {
            if !self.cfg.encode_sparse_convert.get() {
                return Err(LibError::Msg(
                    "Cannot serialise table: excessively sparse array".into(),
                ));
            }
            return Ok(None);
        }
        if max <= 0 {
            return Ok(None);
        }
        Ok(Some(max as usize))
    }
}

/// Appends `s` as a JSON string: quotes, backslashes, '/' and control
/// characters escaped; bytes from 0x80 up pass through unchanged.
fn escape(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f | 0x7f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 0xf)]);
            }
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

/// A lexical token; `Error` carries lua_cjson's description.
#[derive(Clone, Copy, PartialEq)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Number(f64),
    Boolean(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Tok {
    /// How error messages name the token.
    fn name(self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str => "T_STRING",
            Tok::Number(_) => "T_NUMBER",
            Tok::Boolean(_) => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Error(m) => m,
        }
    }
}

struct Parser<'a> {
    cfg: &'a Config,
    data: &'a [u8],
    pos: usize,
    depth: i64,
    /// The bytes of the last string token.
    string: Vec<u8>,
}

fn decode(lua: &Lua, cfg: &Config, data: &[u8]) -> LibResult<Value> {
    // lua_cjson refuses input that looks like UTF-16 or UTF-32.
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return Err(LibError::Msg(
            "JSON parser does not support UTF-16 or UTF-32".into(),
        ));
    }
    let mut p = Parser {
        cfg,
        data,
        pos: 0,
        depth: 0,
        string: Vec::new(),
    };
    let (tok, at) = p.next();
    let v = p.value(lua, tok, at)?;
    let (tok, at) = p.next();
    if tok != Tok::End {
        return Err(p.expected("the end", tok, at));
    }
    Ok(v)
}

impl Parser<'_> {
    fn expected(&self, what: &str, tok: Tok, at: usize) -> LibError {
        LibError::Msg(format!(
            "Expected {what} but found {} at character {}",
            tok.name(),
            at + 1
        ))
    }

    /// The next token and the offset where it (or its error) starts.
    fn next(&mut self) -> (Tok, usize) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.data.get(self.pos) {
            self.pos += 1;
        }
        let start = self.pos;
        // lua_cjson reads a C string: a NUL byte ends the input.
        let c = match self.data.get(start) {
            None | Some(0) => return (Tok::End, start),
            Some(&c) => c,
        };
        let single = match c {
            b'{' => Some(Tok::ObjBegin),
            b'}' => Some(Tok::ObjEnd),
            b'[' => Some(Tok::ArrBegin),
            b']' => Some(Tok::ArrEnd),
            b':' => Some(Tok::Colon),
            b',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(t) = single {
            self.pos += 1;
            return (t, start);
        }
        if c == b'"' {
            return self.string_token();
        }
        let rest = &self.data[start..];
        if c == b'-' || c.is_ascii_digit() {
            if !self.cfg.decode_invalid_numbers.get() && is_invalid_number(rest) {
                return (Tok::Error("invalid number"), start);
            }
            return self.number_token();
        }
        for (word, tok) in [
            (&b"true"[..], Tok::Boolean(true)),
            (b"false", Tok::Boolean(false)),
            (b"null", Tok::Null),
        ] {
            if rest.starts_with(word) {
                self.pos += word.len();
                return (tok, start);
            }
        }
        if self.cfg.decode_invalid_numbers.get() && is_invalid_number(rest) {
            return self.number_token();
        }
        (Tok::Error("invalid token"), start)
    }

    fn number_token(&mut self) -> (Tok, usize) {
        let start = self.pos;
        match strtod(&self.data[start..]) {
            Some((n, used)) => {
                self.pos += used;
                (Tok::Number(n), start)
            }
            None => (Tok::Error("invalid number"), start),
        }
    }

    fn string_token(&mut self) -> (Tok, usize) {
        let start = self.pos;
        self.pos += 1;
        self.string.clear();
        loop {
            let Some(&c) = self.data.get(self.pos) else {
                return (Tok::Error("unexpected end of string"), self.pos);
            };
            match c {
                b'"' => {
                    self.pos += 1;
                    return (Tok::Str, start);
                }
                b'\\' => {
                    let esc = self.pos;
                    let simple = match self.data.get(esc + 1) {
                        Some(b'"') => Some(b'"'),
                        Some(b'\\') => Some(b'\\'),
                        Some(b'/') => Some(b'/'),
                        Some(b'b') => Some(0x08),
                        Some(b'f') => Some(0x0c),
                        Some(b'n') => Some(b'\n'),
                        Some(b'r') => Some(b'\r'),
                        Some(b't') => Some(b'\t'),
                        Some(b'u') => None,
                        _ => return (Tok::Error("invalid escape code"), esc),
                    };
                    match simple {
                        Some(b) => {
                            self.string.push(b);
                            self.pos += 2;
                        }
                        None => match self.unicode_escape(esc) {
                            Some(used) => self.pos += used,
                            None => return (Tok::Error("invalid unicode escape code"), esc),
                        },
                    }
                }
                _ => {
                    self.string.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// Decodes "\uXXXX" (with a following low surrogate when XXXX is a
    /// high one) at `at` into UTF-8; returns the bytes consumed.
    fn unicode_escape(&mut self, at: usize) -> Option<usize> {
        let hex4 = |i: usize| -> Option<u32> {
            let s = self.data.get(i..i + 4)?;
            let mut v = 0;
            for &c in s {
                v = v * 16 + (c as char).to_digit(16)?;
            }
            Some(v)
        };
        let mut cp = hex4(at + 2)?;
        let mut used = 6;
        if (0xdc00..=0xdfff).contains(&cp) {
            return None;
        }
        if (0xd800..=0xdbff).contains(&cp) {
            if self.data.get(at + 6..at + 8) != Some(b"\\u") {
                return None;
            }
            let low = hex4(at + 8)?;
            if !(0xdc00..=0xdfff).contains(&low) {
                return None;
            }
            cp = (((cp & 0x3ff) << 10) | (low & 0x3ff)) + 0x10000;
            used = 12;
        }
        let ch = char::from_u32(cp)?;
        let mut buf = [0u8; 4];
        self.string
            .extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        Some(used)
    }

    fn descend(&mut self, at: usize) -> LibResult<()> {
        self.depth += 1;
        if self.depth > self.cfg.decode_max_depth.get() {
            return Err(LibError::Msg(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth,
                at + 1
            )));
        }
        Ok(())
    }

    fn value(&mut self, lua: &Lua, tok: Tok, at: usize) -> LibResult<Value> {
        Ok(match tok {
            Tok::Str => Value::String(lua.create_string(&self.string)?),
            Tok::Number(n) => Value::Number(n),
            Tok::Boolean(b) => Value::Boolean(b),
            Tok::Null => null(),
            Tok::ObjBegin => self.object(lua, at)?,
            Tok::ArrBegin => self.array(lua, at)?,
            other => return Err(self.expected("value", other, at)),
        })
    }

    fn array(&mut self, lua: &Lua, at: usize) -> LibResult<Value> {
        self.descend(at)?;
        let t = lua.create_table()?;
        let (mut tok, mut at) = self.next();
        if tok == Tok::ArrEnd {
            self.depth -= 1;
            return Ok(Value::Table(t));
        }
        let mut i = 1;
        loop {
            let v = self.value(lua, tok, at)?;
            t.raw_set(i, v)?;
            i += 1;
            let (sep, sep_at) = self.next();
            match sep {
                Tok::ArrEnd => break,
                Tok::Comma => {}
                other => return Err(self.expected("comma or array end", other, sep_at)),
            }
            (tok, at) = self.next();
        }
        self.depth -= 1;
        Ok(Value::Table(t))
    }

    fn object(&mut self, lua: &Lua, at: usize) -> LibResult<Value> {
        self.descend(at)?;
        let t = lua.create_table()?;
        let (mut tok, mut at) = self.next();
        if tok == Tok::ObjEnd {
            self.depth -= 1;
            return Ok(Value::Table(t));
        }
        loop {
            if tok != Tok::Str {
                return Err(self.expected("object key string", tok, at));
            }
            let key = lua.create_string(&self.string)?;
            let (colon, colon_at) = self.next();
            if colon != Tok::Colon {
                return Err(self.expected("colon", colon, colon_at));
            }
            let (vt, vat) = self.next();
            let v = self.value(lua, vt, vat)?;
            t.raw_set(key, v)?;
            let (sep, sep_at) = self.next();
            match sep {
                Tok::ObjEnd => break,
                Tok::Comma => {}
                other => return Err(self.expected("comma or object end", other, sep_at)),
            }
            (tok, at) = self.next();
        }
        self.depth -= 1;
        Ok(Value::Table(t))
    }
}

/// Whether `s` starts a number JSON forbids but strtod reads: a leading
/// '+', hexadecimal, a leading zero, or inf/nan (after an optional '-').
fn is_invalid_number(s: &[u8]) -> bool {
    let mut s = s;
    if s.first() == Some(&b'+') {
        return true;
    }
    if s.first() == Some(&b'-') {
        s = &s[1..];
    }
    match s.first() {
        Some(b'0') => {
            matches!(s.get(1), Some(c) if c.eq_ignore_ascii_case(&b'x') || c.is_ascii_digit())
        }
        Some(&c) if c <= b'9' => false,
        None => false,
        Some(_) => {
            let p3 = s.get(..3).map(|p| p.to_ascii_lowercase());
            matches!(p3.as_deref(), Some(b"inf") | Some(b"nan"))
        }
    }
}

/// C's strtod on the start of `s`: the value and the bytes it used, or
/// `None` when no number starts there.
fn strtod(s: &[u8]) -> Option<(f64, usize)> {
    // strtod reads only these characters; copying the run bounds the work.
    let run = s
        .iter()
        .take_while(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.' | b'(' | b')' | b'_')
        })
        .count();
    let mut buf = Vec::with_capacity(run + 1);
    buf.extend_from_slice(&s[..run]);
    buf.push(0);
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: buf is NUL-terminated; strtod stops at the NUL at the latest
    // and points `end` inside buf.
    let n = unsafe { libc::strtod(buf.as_ptr().cast(), &mut end) };
    let used = end as usize - buf.as_ptr() as usize;
    (used > 0).then_some((n, used))
}

#[cfg(test)]
mod tests {
    //! Expectations taken from redis-server 7.0 (EVAL of the same snippets;
    //! error messages as the script sees them, e.g. through pcall, with the
    //! "user_script:1: " position Redis's chunk name gives).

    use super::super::testutil::{err, lua, ok};

    #[test]
    fn encode_values() {
        let l = lua();
        ok(&l, "return cjson.encode({1,2,{a=1}})", br#"[1,2,{"a":1}]"#);
        ok(&l, "return cjson.encode({})", b"{}");
        ok(&l, "return cjson.encode(nil)", b"null");
        ok(&l, "return cjson.encode(true)", b"true");
        ok(&l, "return cjson.encode({true,false})", b"[true,false]");
        ok(&l, "return cjson.encode(cjson.null)", b"null");
        ok(&l, "return cjson.encode({cjson.null})", b"[null]");
        ok(
            &l,
            "return cjson.encode({a={b={c={}}}})",
            br#"{"a":{"b":{"c":{}}}}"#,
        );
        ok(&l, r#"return cjson.encode({["a/b"]=1})"#, br#"{"a\/b":1}"#);
        ok(
            &l,
            r#"return cjson.encode("a/b\"c\\d\n\r\t\b\f\1\31\127\200")"#,
            b"\"a\\/b\\\"c\\\\d\\n\\r\\t\\b\\f\\u0001\\u001f\\u007f\xc8\"",
        );
        ok(&l, r#"return cjson.encode("\0")"#, br#""\u0000""#);
        ok(
            &l,
            "return cjson.encode(setmetatable({1},{__len=function() return 5 end}))",
            b"[1]",
        );
        ok(
            &l,
            "return cjson.encode(setmetatable({}, {__index=function() return 1 end}))",
            b"{}",
        );
    }

    #[test]
    fn encode_numbers() {
        let l = lua();
        ok(&l, "return cjson.encode(0.1)", b"0.1");
        ok(&l, "return cjson.encode(1/3)", b"0.33333333333333");
        ok(&l, "return cjson.encode(1e100)", b"1e+100");
        ok(
            &l,
            "return cjson.encode(123456789012345678)",
            b"1.2345678901235e+17",
        );
        ok(&l, "return cjson.encode(-0.0)", b"-0");
        ok(&l, "return cjson.encode(2^53)", b"9.007199254741e+15");
        ok(&l, "return cjson.encode(1e14)", b"1e+14");
        ok(&l, "return cjson.encode(123456.789e3)", b"123456789");
        ok(&l, "return cjson.encode(-1.5e-7)", b"-1.5e-07");
        ok(&l, "return cjson.encode(-100)", b"-100");
        ok(&l, "return cjson.encode(0.30000000000000004)", b"0.3");
        ok(&l, "return cjson.encode({[1.5]=1})", br#"{"1.5":1}"#);
        err(
            &l,
            "return cjson.encode(1/0)",
            "user_script:1: Cannot serialise number: must not be NaN or Inf",
        );
        err(
            &l,
            "return cjson.encode(0/0)",
            "user_script:1: Cannot serialise number: must not be NaN or Inf",
        );
        err(
            &l,
            "return cjson.encode({[1/0]=1})",
            "user_script:1: Cannot serialise number: must not be NaN or Inf",
        );
    }

    #[test]
    fn encode_arrays_and_objects() {
        let l = lua();
        ok(&l, "return cjson.encode({1,2,3,nil,5})", b"[1,2,3,null,5]");
        ok(
            &l,
            "return cjson.encode({[1]=1,[2]=2,[4]=4})",
            b"[1,2,null,4]",
        );
        ok(&l, "return cjson.encode({[3]=1})", b"[null,null,1]");
        ok(
            &l,
            "return cjson.encode({[1]=1,[10]=3})",
            b"[1,null,null,null,null,null,null,null,null,3]",
        );
        err(
            &l,
            "return cjson.encode({[1]=1,[11]=3})",
            "user_script:1: Cannot serialise table: excessively sparse array",
        );
        err(
            &l,
            "return cjson.encode({[11]=1})",
            "user_script:1: Cannot serialise table: excessively sparse array",
        );
        ok(
            &l,
            "return cjson.encode({1,2,x=3})",
            br#"{"1":1,"2":2,"x":3}"#,
        );
        ok(&l, "return cjson.encode({[-1]=1})", br#"{"-1":1}"#);
        ok(
            &l,
            "return cjson.encode({[2^31]=1})",
            br#"{"2147483648":1}"#,
        );
        ok(&l, "return cjson.encode({[2^31]=1, [1]=2})", b"[2]");
        ok(&l, "return cjson.encode({[0]=1})", br#"{"0":1}"#);
        ok(
            &l,
            "return cjson.encode({a=1,b=2,c=3,d={1,2}})",
            br#"{"a":1,"d":[1,2],"c":3,"b":2}"#,
        );
        err(
            &l,
            "return cjson.encode({[true]=1})",
            "user_script:1: Cannot serialise boolean: table key must be a number or string",
        );
    }

    #[test]
    fn encode_errors() {
        let l = lua();
        err(
            &l,
            "return cjson.encode(function() end)",
            "user_script:1: Cannot serialise function: type not supported",
        );
        err(
            &l,
            "return cjson.encode({a=function() end})",
            "user_script:1: Cannot serialise function: type not supported",
        );
        err(
            &l,
            "return cjson.encode(coroutine.create(function() end))",
            "user_script:1: Cannot serialise thread: type not supported",
        );
        err(
            &l,
            "return cjson.encode()",
            "user_script:1: bad argument #1 to 'encode' (expected 1 argument)",
        );
        err(
            &l,
            "return cjson.encode(1,2)",
            "user_script:1: bad argument #1 to 'encode' (expected 1 argument)",
        );
        ok(
            &l,
            "local ok, e = pcall(cjson.encode, function() end) return e",
            b"Cannot serialise function: type not supported",
        );
        ok(
            &l,
            "local ok, e = pcall(cjson.decode) return e",
            b"bad argument #1 to '?' (expected 1 argument)",
        );
        err(
            &l,
            "local t={} t[1]=t return cjson.encode(t)",
            "user_script:1: Cannot serialise, excessive nesting (1001)",
        );
        ok(
            &l,
            "local t={} local c=t for i=1,999 do c[1]={} c=c[1] end return #cjson.encode(t)",
            b"2000",
        );
    }

    #[test]
    fn decode_values() {
        let l = lua();
        ok(
            &l,
            r#"return cjson.decode('[1,2,{"a":[true,false,null]}]')[3].a[1]"#,
            b"true",
        );
        ok(&l, "return type(cjson.decode('null'))", b"userdata");
        ok(&l, "return cjson.decode('null') == cjson.null", b"true");
        ok(&l, "return tostring(cjson.null)", b"userdata: (nil)");
        ok(&l, "return cjson.decode('1e2')", b"100");
        ok(&l, "return cjson.decode('-12.5e1')", b"-125");
        ok(&l, "return cjson.decode('1.')", b"1");
        ok(&l, "return cjson.decode('0x10')", b"16");
        ok(&l, "return cjson.decode('0x1p4')", b"16");
        ok(&l, "return cjson.decode('01')", b"1");
        ok(&l, "return cjson.decode('+1')", b"1");
        ok(
            &l,
            "return cjson.decode('-Infinity') == -math.huge",
            b"true",
        );
        ok(
            &l,
            "return cjson.decode('nan') ~= cjson.decode('nan')",
            b"true",
        );
        ok(&l, "return cjson.decode(123)", b"123");
        ok(
            &l,
            r#"return cjson.decode('"\\u00e9\\ud83d\\ude00"')"#,
            "é😀".as_bytes(),
        );
        ok(
            &l,
            r#"return cjson.decode('"\\/\\b\\f\\n\\r\\t\\"\\\\"')"#,
            b"/\x08\x0c\n\r\t\"\\",
        );
        ok(&l, r#"return cjson.decode('"\\u0000"')"#, b"\0");
        ok(&l, r#"return cjson.decode('{"a":1,"a":2}').a"#, b"2");
        ok(&l, "return cjson.decode('  [ 1 ]  ')[1]", b"1");
        ok(&l, "return cjson.decode('[1]\\0')[1]", b"1");
        ok(&l, "return cjson.encode(cjson.decode('[1.0]'))", b"[1]");
        ok(
            &l,
            r#"return cjson.encode(cjson.decode('{"a":null}'))"#,
            br#"{"a":null}"#,
        );
        ok(
            &l,
            "return #cjson.decode(string.rep('[',1000)..string.rep(']',1000))",
            b"1",
        );
    }

    #[test]
    fn decode_errors() {
        let l = lua();
        let cases = [
            ("''", "Expected value but found T_END at character 1"),
            (
                "'x'",
                "Expected value but found invalid token at character 1",
            ),
            (
                "'[1,2'",
                "Expected comma or array end but found T_END at character 5",
            ),
            (
                r#"'{"a":1,}'"#,
                "Expected object key string but found T_OBJ_END at character 8",
            ),
            (
                "'[1,2,]'",
                "Expected value but found T_ARR_END at character 6",
            ),
            (
                r#"'{"a" 1}'"#,
                "Expected colon but found T_NUMBER at character 6",
            ),
            (
                "'1 2'",
                "Expected the end but found T_NUMBER at character 3",
            ),
            (
                r#"'"\\ud83d"'"#,
                "Expected value but found invalid unicode escape code at character 2",
            ),
            (
                r#"'"\\uDC00"'"#,
                "Expected value but found invalid unicode escape code at character 2",
            ),
            (
                r#"'"a\\u00"'"#,
                "Expected value but found invalid unicode escape code at character 3",
            ),
            (
                r#"'"abc'"#,
                "Expected value but found unexpected end of string at character 5",
            ),
            (
                r#"'"a\\qb"'"#,
                "Expected value but found invalid escape code at character 3",
            ),
            (
                "'.5'",
                "Expected value but found invalid token at character 1",
            ),
            (
                "'-'",
                "Expected value but found invalid number at character 1",
            ),
            (
                "'1e'",
                "Expected the end but found invalid token at character 2",
            ),
            (
                "'0x'",
                "Expected the end but found invalid token at character 2",
            ),
            (
                "'nulll'",
                "Expected the end but found invalid token at character 5",
            ),
            (
                "'{'",
                "Expected object key string but found T_END at character 2",
            ),
            (
                "'{1:2}'",
                "Expected object key string but found T_NUMBER at character 2",
            ),
            (
                r#"'{"a":1 "b":2}'"#,
                "Expected comma or object end but found T_STRING at character 8",
            ),
            (
                "'\\f[1]'",
                "Expected value but found invalid token at character 1",
            ),
            ("'\"\\0\"'", "JSON parser does not support UTF-16 or UTF-32"),
            ("'\\0'", "Expected value but found T_END at character 1"),
            (
                "string.rep('[',1001)..string.rep(']',1001)",
                "Found too many nested data structures (1001) at character 1001",
            ),
        ];
        for (arg, msg) in cases {
            err(
                &l,
                &format!("return cjson.decode({arg})"),
                &format!("user_script:1: {msg}"),
            );
        }
        err(
            &l,
            "return cjson.decode({})",
            "user_script:1: bad argument #1 to 'decode' (string expected, got table)",
        );
        err(
            &l,
            "return cjson.decode()",
            "user_script:1: bad argument #1 to 'decode' (expected 1 argument)",
        );
    }

    #[test]
    fn settings() {
        let l = lua();
        ok(&l, "return cjson.encode_max_depth()", b"1000");
        ok(&l, "return cjson.encode_number_precision()", b"14");
        ok(&l, "return cjson.encode_keep_buffer()", b"true");
        ok(&l, "return cjson.encode_invalid_numbers()", b"false");
        ok(&l, "return cjson.decode_invalid_numbers()", b"true");
        ok(
            &l,
            "return table.concat({tostring(cjson.encode_sparse_array())}, ',')",
            b"false",
        );
        ok(
            &l,
            "local a,b,c = cjson.encode_sparse_array() return b..','..c",
            b"2,10",
        );
        err(&l, "return cjson.encode_max_depth(0)", "user_script:1: bad argument #1 to 'encode_max_depth' (expected integer between 1 and 2147483647)");
        err(
            &l,
            "return cjson.encode_max_depth('x')",
            "user_script:1: bad argument #1 to 'encode_max_depth' (number expected, got string)",
        );
        err(
            &l,
            "return cjson.encode_max_depth(1,2)",
            "user_script:1: bad argument #2 to 'encode_max_depth' (found too many arguments)",
        );
        err(&l, "return cjson.encode_number_precision(15)", "user_script:1: bad argument #1 to 'encode_number_precision' (expected integer between 1 and 14)");
        err(
            &l,
            "return cjson.encode_keep_buffer(1)",
            "user_script:1: bad argument #1 to 'encode_keep_buffer' (invalid option '1')",
        );
        err(&l, "return cjson.encode_sparse_array(false, -1)", "user_script:1: bad argument #1 to 'encode_sparse_array' (expected integer between 0 and 2147483647)");
        err(
            &l,
            "return cjson.encode_sparse_array('x')",
            "user_script:1: bad argument #1 to 'encode_sparse_array' (invalid option 'x')",
        );
        ok(&l, "return cjson.encode_max_depth('7')", b"7");
        ok(&l, "return cjson.encode_max_depth(1.5)", b"1");
        ok(&l, "return cjson.encode_max_depth(nil)", b"1");
        ok(
            &l,
            "return cjson._NAME .. ' ' .. cjson._VERSION",
            b"cjson 2.1.0",
        );
        ok(
            &l,
            "local t = {} for k in pairs(cjson) do t[#t+1]=k end table.sort(t) return table.concat(t, ',')",
            b"_NAME,_VERSION,decode,decode_invalid_numbers,decode_max_depth,encode,encode_invalid_numbers,encode_keep_buffer,encode_max_depth,encode_number_precision,encode_sparse_array,new,null",
        );
    }

    #[test]
    fn settings_change_behaviour() {
        let l = lua();
        ok(&l, "return cjson.encode_invalid_numbers(true)", b"true");
        ok(
            &l,
            "return cjson.encode({1/0, -1/0, 0/0, -(0/0)})",
            b"[inf,-inf,nan,nan]",
        );
        ok(&l, "return cjson.encode_invalid_numbers('null')", b"null");
        ok(
            &l,
            "return cjson.encode({1/0, -1/0, 0/0})",
            b"[null,null,null]",
        );
        err(
            &l,
            "return cjson.encode_invalid_numbers(2)",
            "user_script:1: bad argument #1 to 'encode_invalid_numbers' (invalid option '2')",
        );
        ok(&l, "return cjson.decode_invalid_numbers(false)", b"false");
        err(
            &l,
            "return cjson.decode('NaN')",
            "user_script:1: Expected value but found invalid token at character 1",
        );
        err(
            &l,
            "return cjson.decode('+1')",
            "user_script:1: Expected value but found invalid token at character 1",
        );
        err(
            &l,
            "return cjson.decode('0x10')",
            "user_script:1: Expected value but found invalid number at character 1",
        );
        err(
            &l,
            "return cjson.decode('01')",
            "user_script:1: Expected value but found invalid number at character 1",
        );
        err(
            &l,
            "return cjson.decode('-Infinity')",
            "user_script:1: Expected value but found invalid number at character 1",
        );
        ok(&l, "return cjson.encode_number_precision(3)", b"3");
        ok(
            &l,
            "return cjson.encode({1/3, 1234.5678, 1e10, 0.5})",
            b"[0.333,1.23e+03,1e+10,0.5]",
        );
        ok(&l, "return cjson.encode({[2^40]=1})", br#"{"1.1e+12":1}"#);
        ok(&l, "return cjson.encode_max_depth(2)", b"2");
        ok(&l, "return cjson.encode({{1}})", b"[[1]]");
        err(
            &l,
            "return cjson.encode({{{1}}})",
            "user_script:1: Cannot serialise, excessive nesting (3)",
        );
        ok(&l, "return cjson.decode_max_depth(2)", b"2");
        err(
            &l,
            "return cjson.decode('[[[1]]]')",
            "user_script:1: Found too many nested data structures (3) at character 3",
        );
        err(
            &l,
            r#"return cjson.decode('{"a":{"b":{}}}')"#,
            "user_script:1: Found too many nested data structures (3) at character 11",
        );
        ok(&l, "return cjson.encode_sparse_array(true)", b"true");
        ok(
            &l,
            "return cjson.encode({[1]=1,[20]=3})",
            br#"{"1":1,"20":3}"#,
        );
        ok(
            &l,
            "return cjson.encode_sparse_array(false, 3, 5)",
            b"false",
        );
        ok(
            &l,
            "return cjson.encode({[1]=1,[2]=2, [7]=1})",
            b"[1,2,null,null,null,null,1]",
        );
        ok(
            &l,
            "return cjson.encode_sparse_array(false, 0, 5)",
            b"false",
        );
        ok(&l, "return #cjson.encode({[1]=1,[200]=1})", b"995");
        // A new instance has its own, default, settings.
        ok(&l, "return cjson.new().encode_number_precision()", b"14");
    }
}
