//! `cmsgpack`: MessagePack as Redis's embedded lua-cmsgpack 0.4.0 writes
//! and reads it. Integral numbers become the smallest integer type, other
//! numbers a float32 when exact and a float64 otherwise; a table is an
//! array when its keys are exactly 1..n and a map otherwise; tables nested
//! deeper than 16 levels, functions, threads and userdata become nil.
//! Reading supports what the writer produces (no bin or ext types).

use mlua::{Lua, MultiValue, Table, Value};

use super::{as_number, check_bytes, check_integer, opt_integer, register, LibError, LibResult};

/// Tables nested deeper than this are packed as nil.
const MAX_NESTING: usize = 16;

fn pack_value(out: &mut Vec<u8>, v: &Value, level: usize) -> mlua::Result<()> {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => pack_number(out, *i as f64),
        Value::Number(n) => pack_number(out, *n),
        Value::String(s) => pack_bytes(out, &s.as_bytes()),
        Value::Table(t) if level < MAX_NESTING => pack_table(out, t, level)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

fn pack_number(out: &mut Vec<u8>, n: f64) {
    // An integer when converting to int64 (as x86-64 does) gives it back.
    if !n.is_infinite() && super::f64_to_i64(n) as f64 == n {
        pack_integer(out, n as i64);
    } else if (n as f32) as f64 == n {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn pack_integer(out: &mut Vec<u8>, i: i64) {
    if i >= 0 {
        let u = i as u64;
        if u <= 0x7f {
            out.push(u as u8);
        } else if u <= 0xff {
            out.extend_from_slice(&[0xcc, u as u8]);
        } else if u <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    } else if i >= -32 {
        out.push(i as u8);
    } else if i >= -128 {
        out.extend_from_slice(&[0xd0, i as u8]);
    } else if i >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(i as i16).to_be_bytes());
    } else if i >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(i as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

fn pack_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

/// Writes an array or map header: `fix` for small counts, then the 16-
/// and 32-bit forms.
fn pack_header(out: &mut Vec<u8>, len: usize, fix: u8, w16: u8) {
    if len < 16 {
        out.push(fix | len as u8);
    } else if len <= 0xffff {
        out.push(w16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(w16 + 1);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn pack_table(out: &mut Vec<u8>, t: &Table, level: usize) -> mlua::Result<()> {
    // An array when every key is a positive integer and they run 1..count.
    let mut count = 0usize;
    let mut max = 0f64;
    let mut array = true;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        count += 1;
        match as_number(&k) {
            Some(n) if n > 0.0 && n.floor() == n => max = max.max(n),
            _ => array = false,
        }
    }
    if array && max == count as f64 {
        pack_header(out, count, 0x90, 0xdc);
        for i in 1..=count {
            let v: Value = t.raw_get(i)?;
            pack_value(out, &v, level + 1)?;
        }
    } else {
        pack_header(out, count, 0x80, 0xde);
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair?;
            pack_value(out, &k, level + 1)?;
            pack_value(out, &v, level + 1)?;
        }
    }
    Ok(())
}

/// Why decoding stopped.
enum Fail {
    /// The input ended inside a value.
    Eof,
    /// A type byte this decoder does not accept.
    BadFormat,
    /// Storing a decoded pair failed (nil or NaN key).
    Lua(LibError),
}

impl From<mlua::Error> for Fail {
    fn from(e: mlua::Error) -> Self {
        Fail::Lua(LibError::Lua(e))
    }
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Fail> {
        let end = self.pos.checked_add(n).ok_or(Fail::Eof)?;
        let s = self.data.get(self.pos..end).ok_or(Fail::Eof)?;
        self.pos = end;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64, Fail> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |a, &b| (a << 8) | u64::from(b)))
    }

    fn left(&self) -> usize {
        self.data.len() - self.pos
    }

    fn value(&mut self, lua: &Lua) -> Result<Value, Fail> {
        let t = self.take(1)?[0];
        let num = |n: f64| Ok(Value::Number(n));
        match t {
            0x00..=0x7f => num(f64::from(t)),
            0x80..=0x8f => self.map(lua, usize::from(t & 0x0f)),
            0x90..=0x9f => self.array(lua, usize::from(t & 0x0f)),
            0xa0..=0xbf => self.string(lua, usize::from(t & 0x1f)),
            0xc0 => Ok(Value::Nil),
            0xc2 => Ok(Value::Boolean(false)),
            0xc3 => Ok(Value::Boolean(true)),
            0xca => num(f64::from(f32::from_bits(self.be(4)? as u32))),
            0xcb => num(f64::from_bits(self.be(8)?)),
            0xcc => num(self.be(1)? as f64),
            0xcd => num(self.be(2)? as f64),
            0xce => num(self.be(4)? as f64),
            // lua-cmsgpack reads uint64 through a signed integer.
            0xcf => num(self.be(8)? as i64 as f64),
            0xd0 => num(f64::from(self.be(1)? as u8 as i8)),
            0xd1 => num(f64::from(self.be(2)? as u16 as i16)),
            0xd2 => num(f64::from(self.be(4)? as u32 as i32)),
            0xd3 => num(self.be(8)? as i64 as f64),
            0xd9 => {
                let n = self.be(1)? as usize;
                self.string(lua, n)
            }
            0xda => {
                let n = self.be(2)? as usize;
                self.string(lua, n)
            }
            0xdb => {
                let n = self.be(4)? as usize;
                self.string(lua, n)
            }
            0xdc => {
                let n = self.be(2)? as usize;
                self.array(lua, n)
            }
            0xdd => {
                let n = self.be(4)? as usize;
                self.array(lua, n)
            }
            0xde => {
                let n = self.be(2)? as usize;
                self.map(lua, n)
            }
            0xdf => {
                let n = self.be(4)? as usize;
                self.map(lua, n)
            }
            0xe0..=0xff => num(f64::from(t as i8)),
            _ => Err(Fail::BadFormat),
        }
    }

    fn string(&mut self, lua: &Lua, n: usize) -> Result<Value, Fail> {
        let s = self.take(n)?;
        Ok(Value::String(lua.create_string(s)?))
    }

    fn array(&mut self, lua: &Lua, n: usize) -> Result<Value, Fail> {
        // Bound the preallocation by what the input could hold.
        let t = lua.create_table_with_capacity(n.min(self.left()), 0)?;
        for i in 1..=n {
            let v = self.value(lua)?;
            t.raw_set(i, v)?;
        }
        Ok(Value::Table(t))
    }

    fn map(&mut self, lua: &Lua, n: usize) -> Result<Value, Fail> {
        let t = lua.create_table_with_capacity(0, n.min(self.left()))?;
        for _ in 0..n {
            let k = self.value(lua)?;
            let v = self.value(lua)?;
            // The errors lua_settable raises for keys Lua cannot index by.
            match &k {
                Value::Nil => return Err(Fail::Lua(LibError::Raw("table index is nil".into()))),
                Value::Number(x) if x.is_nan() => {
                    return Err(Fail::Lua(LibError::Raw("table index is NaN".into())))
                }
                _ => {}
            }
            t.raw_set(k, v)?;
        }
        Ok(Value::Table(t))
    }
}

/// Decodes up to `limit` values (all when `limit` and `offset` are both 0)
/// from argument 1 starting at `offset`. Unless decoding everything, the
/// offset to continue from (-1 at the end) comes first.
fn unpack_full(lua: &Lua, args: &[Value], limit: i64, offset: i64) -> LibResult<MultiValue> {
    let data = check_bytes(lua, args, 1)?;
    let len = data.len() as i64;
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        // The message names the input length as "limit", as the C one does.
        return Err(LibError::Msg(format!(
            "Invalid request to unpack with offset of {} and limit of {}.",
            offset as i32, len as i32
        )));
    }
    if offset > len {
        return Err(LibError::Msg(format!(
            "Start offset {} greater than input length {}.",
            offset as i32, len as i32
        )));
    }
    let limit = if decode_all { i64::MAX } else { limit };
    let mut c = Cursor {
        data: &data,
        pos: offset as usize,
    };
    let mut out = Vec::new();
    let mut count = 0;
    while c.left() > 0 && count < limit {
        match c.value(lua) {
            Ok(v) => out.push(v),
            Err(Fail::Eof) => return Err(LibError::Msg("Missing bytes in input.".into())),
            Err(Fail::BadFormat) => return Err(LibError::Msg("Bad data format in input.".into())),
            Err(Fail::Lua(e)) => return Err(e),
        }
        count += 1;
    }
    if !decode_all {
        let next = if c.left() == 0 { -1 } else { c.pos as i64 };
        out.insert(0, Value::Number(next as f64));
    }
    Ok(MultiValue::from_vec(out))
}

pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    register(lua, &t, "pack", |lua, args| {
        if args.is_empty() {
            return Err(LibError::Arg(0, "MessagePack pack needs input.".into()));
        }
        let mut out = Vec::new();
        for v in args.iter() {
            pack_value(&mut out, v, 0)?;
        }
        Ok(MultiValue::from_vec(vec![Value::String(
            lua.create_string(&out)?,
        )]))
    })?;
    register(lua, &t, "unpack", |lua, args| {
        let args: Vec<Value> = args.into_iter().collect();
        unpack_full(lua, &args, 0, 0)
    })?;
    register(lua, &t, "unpack_one", |lua, args| {
        let args: Vec<Value> = args.into_iter().collect();
        let offset = opt_integer(lua, &args, 2, 0)?;
        unpack_full(lua, &args, 1, offset)
    })?;
    register(lua, &t, "unpack_limit", |lua, args| {
        let args: Vec<Value> = args.into_iter().collect();
        let limit = check_integer(lua, &args, 2)?;
        let offset = opt_integer(lua, &args, 3, 0)?;
        unpack_full(lua, &args, limit, offset)
    })?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    //! Expectations taken from redis-server 7.0 (EVAL of the same snippets).

    use super::super::testutil::{err, lua, ok};

    #[test]
    fn pack() {
        let l = lua();
        let cases: &[(&str, &[u8])] = &[
            (
                "0, -1, -32, -33, 127, 128, 255, 256, 65535, 65536, -128, -129, -32768, -32769",
                b"\x00\xff\xe0\xd0\xdf\x7f\xcc\x80\xcc\xff\xcd\x01\x00\xcd\xff\xff\xce\x00\x01\x00\x00\xd0\x80\xd1\xff\x7f\xd1\x80\x00\xd2\xff\xff\x7f\xff",
            ),
            (
                "4294967295, 4294967296, -2147483648, -2147483649",
                b"\xce\xff\xff\xff\xff\xcf\x00\x00\x00\x01\x00\x00\x00\x00\xd2\x80\x00\x00\x00\xd3\xff\xff\xff\xff\x7f\xff\xff\xff",
            ),
            (
                "2^53, -2^53, 2^63, 1e20",
                b"\xcf\x00\x20\x00\x00\x00\x00\x00\x00\xd3\xff\xe0\x00\x00\x00\x00\x00\x00\xca\x5f\x00\x00\x00\xcb\x44\x15\xaf\x1d\x78\xb5\x8c\x40",
            ),
            (
                "1.5, 0.1, -0.5, 1/0, 0/0, -0.0",
                b"\xca\x3f\xc0\x00\x00\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a\xca\xbf\x00\x00\x00\xca\x7f\x80\x00\x00\xcb\xff\xf8\x00\x00\x00\x00\x00\x00\x00",
            ),
            ("-2^63", b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00"),
            ("2^64", b"\xca\x5f\x80\x00\x00"),
            ("1e19", b"\xcb\x43\xe1\x58\xe4\x60\x91\x3d\x00"),
            ("3.0", b"\x03"),
            ("''", b"\xa0"),
            ("'abc'", b"\xa3abc"),
            ("nil, true, false", b"\xc0\xc3\xc2"),
            ("{}", b"\x90"),
            ("{1,2,3}", b"\x93\x01\x02\x03"),
            ("{a=1}", b"\x81\xa1a\x01"),
            ("{1,2,nil,4}", b"\x83\x01\x01\x02\x02\x04\x04"),
            ("{[2]=1}", b"\x81\x02\x01"),
            ("{1,2,x=1}", b"\x83\x01\x01\x02\x02\xa1x\x01"),
            ("{[1.5]=1}", b"\x81\xca\x3f\xc0\x00\x00\x01"),
            ("{[0]=1}", b"\x81\x00\x01"),
            ("{{{}}}", b"\x91\x91\x90"),
            ("function() end, coroutine.create(function() end), cjson.null", b"\xc0\xc0\xc0"),
            ("setmetatable({}, {__index=function() return 1 end})", b"\x90"),
        ];
        for (args, want) in cases {
            ok(&l, &format!("return cmsgpack.pack({args})"), want);
        }
        ok(
            &l,
            "return cmsgpack.pack(string.rep('x',31)):sub(1,2)",
            b"\xbfx",
        );
        ok(
            &l,
            "return cmsgpack.pack(string.rep('x',32)):sub(1,3)",
            b"\xd9\x20x",
        );
        ok(
            &l,
            "return cmsgpack.pack(string.rep('x',256)):sub(1,4)",
            b"\xda\x01\x00x",
        );
        ok(
            &l,
            "return cmsgpack.pack(string.rep('x',65536)):sub(1,6)",
            b"\xdb\x00\x01\x00\x00x",
        );
        ok(
            &l,
            "local t={} for i=1,16 do t[i]=i end return cmsgpack.pack(t):sub(1,3)",
            b"\xdc\x00\x10",
        );
        ok(
            &l,
            "local t={} for i=1,65536 do t[i]=i end return cmsgpack.pack(t):sub(1,5)",
            b"\xdd\x00\x01\x00\x00",
        );
        ok(
            &l,
            "local t={} for i=1,16 do t['k'..i]=i end return cmsgpack.pack(t):sub(1,3)",
            b"\xde\x00\x10",
        );
        ok(
            &l,
            "local t={} t[1]=t return cmsgpack.pack(t)",
            b"\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\xc0",
        );
        err(
            &l,
            "return cmsgpack.pack()",
            "user_script:1: bad argument #0 to 'pack' (MessagePack pack needs input.)",
        );
    }

    #[test]
    fn unpack() {
        let l = lua();
        let cases = [
            (r#"cmsgpack.pack(1,"a",{1,2})"#, "{1,a,{1,2}}"),
            (r#""\192\1""#, "{}"),
            (r#""""#, "{}"),
            ("123", "{49,50,51}"),
            (r#""\203\63\248\0\0\0\0\0\0""#, "{1.5}"),
            (r#""\202\63\192\0\0""#, "{1.5}"),
            (r#""\207\255\255\255\255\255\255\255\255""#, "{-1}"),
            (
                r#""\204\200\208\200\205\1\0\209\255\0""#,
                "{200,-56,256,-256}",
            ),
            (r#""\206\0\0\1\0\210\255\255\255\0""#, "{256,-256}"),
            (r#""\218\0\2ab\219\0\0\0\2ab\165hello""#, "{ab,ab,hello}"),
            (r#""\194\195\224\240\255""#, "{false,true,-32,-16,-1}"),
            (r#""\220\0\2\1\2\221\0\0\0\1\5""#, "{{1,2},{5}}"),
        ];
        for (arg, want) in cases {
            ok(
                &l,
                &format!("return {{cmsgpack.unpack({arg})}}"),
                want.as_bytes(),
            );
        }
        ok(
            &l,
            r#"return cmsgpack.unpack("\222\0\1\161a\1")["a"]"#,
            b"1",
        );
        ok(&l, r#"return cmsgpack.unpack("\223\0\0\0\1\1\2")[1]"#, b"2");
        ok(&l, r#"return cmsgpack.unpack("\130\1\2\1\3")[1]"#, b"3");
        ok(
            &l,
            r#"return cmsgpack.unpack("\211\128\0\0\0\0\0\0\0") == -2^63"#,
            b"true",
        );
        for (arg, msg) in [
            (r#""\193""#, "user_script:1: Bad data format in input."),
            (r#""\196\3abc""#, "user_script:1: Bad data format in input."),
            (r#""\199\1\5a""#, "user_script:1: Bad data format in input."),
            (r#""\212\1a""#, "user_script:1: Bad data format in input."),
            (r#""\217""#, "user_script:1: Missing bytes in input."),
            (r#""\217\5ab""#, "user_script:1: Missing bytes in input."),
            (r#""\145""#, "user_script:1: Missing bytes in input."),
            (r#""\146\1""#, "user_script:1: Missing bytes in input."),
            (r#""\129\192\1""#, "table index is nil"),
            (r#""\129\203\255\248\0\0\0\0\0\0\1""#, "table index is NaN"),
            (
                "",
                "user_script:1: bad argument #1 to 'unpack' (string expected, got no value)",
            ),
            (
                "{}",
                "user_script:1: bad argument #1 to 'unpack' (string expected, got table)",
            ),
        ] {
            err(&l, &format!("return cmsgpack.unpack({arg})"), msg);
        }
    }

    #[test]
    fn unpack_one_and_limit() {
        let l = lua();
        let p = "cmsgpack.pack(1,2,3)";
        for (call, want) in [
            (format!("unpack_one({p})"), "{1,1}"),
            (format!("unpack_one({p}, 1)"), "{2,2}"),
            (format!("unpack_one({p}, 3)"), "{-1}"),
            ("unpack_one('')".to_string(), "{-1}"),
            (r#"unpack_one("\192\192")"#.to_string(), "{1}"),
            (format!("unpack_limit({p}, 2)"), "{2,1,2}"),
            (format!("unpack_limit({p}, 0)"), "{1,2,3}"),
            (format!("unpack_limit({p}, 0, 1)"), "{1}"),
            (format!("unpack_limit({p}, 1, 2)"), "{-1,3}"),
        ] {
            ok(&l, &format!("return {{cmsgpack.{call}}}"), want.as_bytes());
        }
        for (call, msg) in [
            (
                format!("unpack_one({p}, 10)"),
                "Start offset 10 greater than input length 3.",
            ),
            (
                format!("unpack_limit({p}, 2, 99)"),
                "Start offset 99 greater than input length 3.",
            ),
            (
                format!("unpack_one({p}, -1)"),
                "Invalid request to unpack with offset of -1 and limit of 3.",
            ),
            (
                format!("unpack_limit({p}, -1)"),
                "Invalid request to unpack with offset of 0 and limit of 3.",
            ),
            (
                format!("unpack_limit({p}, 2, -1)"),
                "Invalid request to unpack with offset of -1 and limit of 3.",
            ),
            (
                r#"unpack_limit("\1\2")"#.to_string(),
                "bad argument #2 to 'unpack_limit' (number expected, got no value)",
            ),
            (
                r#"unpack_limit("\1\2", "x")"#.to_string(),
                "bad argument #2 to 'unpack_limit' (number expected, got string)",
            ),
        ] {
            err(
                &l,
                &format!("return cmsgpack.{call}"),
                &format!("user_script:1: {msg}"),
            );
        }
        ok(
            &l,
            "local t = {} for k in pairs(cmsgpack) do t[#t+1]=k end table.sort(t) return table.concat(t, ',')",
            b"_COPYRIGHT,_DESCRIPTION,_NAME,_VERSION,pack,unpack,unpack_limit,unpack_one",
        );
        ok(&l, "return cmsgpack._VERSION", b"lua-cmsgpack 0.4.0");
    }
}
