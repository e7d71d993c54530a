//! `struct`: Roberto Ierusalimschy's struct library (as Redis embeds it)
//! for packing Lua values into binary strings and back, driven by a format
//! string: `<` `>` set endianness, `!n` alignment, `b B h H l L T i I in In`
//! integers, `f d` floats, `c cn` fixed strings, `s` zero-terminated
//! strings, `x` a padding byte, spaces ignored.

use mlua::{Lua, MultiValue, Table, Value};

use super::{check_bytes, check_number, f64_to_i64, opt_integer, register, LibError, LibResult};

/// Largest integer size `in` accepts.
const MAX_INT_SIZE: usize = 32;
/// Largest alignment `!` defaults to (that of a double on x86-64).
const MAX_ALIGN: usize = 8;

/// Format state: endianness and alignment.
struct Header {
    little: bool,
    align: usize,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            little: true,
            align: 1,
        }
    }
}

/// A cursor over the format string.
struct Format<'a> {
    fmt: &'a [u8],
    pos: usize,
}

impl Format<'_> {
    fn next_opt(&mut self) -> Option<u8> {
        let c = *self.fmt.get(self.pos)?;
        self.pos += 1;
        Some(c)
    }

    /// Reads a decimal size, `default` when no digit follows.
    fn num(&mut self, default: usize) -> LibResult<usize> {
        if !self.fmt.get(self.pos).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: usize = 0;
        while let Some(&c) = self.fmt.get(self.pos).filter(|c| c.is_ascii_digit()) {
            let d = usize::from(c - b'0');
            if a > (i32::MAX as usize) / 10 || a * 10 > i32::MAX as usize - d {
                return Err(LibError::Msg("integral size overflow".into()));
            }
            a = a * 10 + d;
            self.pos += 1;
        }
        Ok(a)
    }

    /// The size an option occupies (0 for those without a fixed size).
    fn size(&mut self, opt: u8) -> LibResult<usize> {
        Ok(match opt {
            b'b' | b'B' => 1,
            b'h' | b'H' => 2,
            b'l' | b'L' | b'T' | b'd' => 8,
            b'f' => 4,
            b'x' => 1,
            b'c' => self.num(1)?,
            b'i' | b'I' => {
                let sz = self.num(4)?;
                if sz > MAX_INT_SIZE {
                    return Err(LibError::Msg(format!(
                        "integral size {sz} is larger than limit of {MAX_INT_SIZE}"
                    )));
                }
                sz
            }
            _ => 0,
        })
    }

    /// Handles the options that change the header (and spaces); anything
    /// else is an invalid option.
    fn control(&mut self, opt: u8, h: &mut Header) -> LibResult<()> {
        match opt {
            b' ' => {}
            b'>' => h.little = false,
            b'<' => h.little = true,
            b'!' => {
                let a = self.num(MAX_ALIGN)?;
                if !a.is_power_of_two() {
                    return Err(LibError::Msg(format!("alignment {a} is not a power of 2")));
                }
                h.align = a;
            }
            _ => {
                return Err(LibError::Arg(
                    1,
                    format!("invalid format option '{}'", opt as char),
                ))
            }
        }
        Ok(())
    }
}

/// Padding needed before an item of `size` at offset `len`.
fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

fn is_int_opt(opt: u8) -> bool {
    matches!(
        opt,
        b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I'
    )
}

/// A double converted to the 64-bit pattern C's casts give on x86-64:
/// through a signed integer when negative, through an unsigned one
/// otherwise.
fn to_u64(n: f64) -> u64 {
    if n < 0.0 {
        f64_to_i64(n) as u64
    } else if n < 9_223_372_036_854_775_808.0 {
        n as u64
    } else {
        (f64_to_i64(n - 9_223_372_036_854_775_808.0) as u64) ^ (1 << 63)
    }
}

fn put_integer(out: &mut Vec<u8>, n: f64, little: bool, size: usize) {
    let value = to_u64(n);
    let mut bytes: Vec<u8> = (0..size)
        .map(|i| if i < 8 { (value >> (8 * i)) as u8 } else { 0 })
        .collect();
    if !little {
        bytes.reverse();
    }
    out.extend_from_slice(&bytes);
}

fn get_integer(data: &[u8], little: bool, signed: bool, size: usize) -> f64 {
    let mut l: u64 = 0;
    for i in 0..size {
        let b = if little { data[size - 1 - i] } else { data[i] };
        l = l.wrapping_shl(8) | u64::from(b);
    }
    if signed {
        // The shift count wraps modulo 64 as x86-64's shift does.
        let mask = !0u64 << ((size * 8).wrapping_sub(1) & 63);
        if l & mask != 0 {
            l |= mask;
        }
        l as i64 as f64
    } else {
        l as f64
    }
}

fn pack(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    let mut args: Vec<Value> = args.into_iter().collect();
    let fmt = check_bytes(lua, &args, 1)?;
    // The C code pushes a nil after the arguments, so the first missing
    // argument is reported as "nil" rather than "no value".
    args.push(Value::Nil);
    let mut f = Format { fmt: &fmt, pos: 0 };
    let mut h = Header::default();
    let mut arg = 2;
    let mut out = Vec::new();
    while let Some(opt) = f.next_opt() {
        let size = f.size(opt)?;
        let pad = to_align(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            _ if is_int_opt(opt) => {
                let n = check_number(lua, &args, arg)?;
                arg += 1;
                put_integer(&mut out, n, h.little, size);
            }
            b'x' => out.push(0),
            b'f' | b'd' => {
                let n = check_number(lua, &args, arg)?;
                arg += 1;
                let mut bytes = if opt == b'f' {
                    (n as f32).to_le_bytes().to_vec()
                } else {
                    n.to_le_bytes().to_vec()
                };
                if !h.little {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            b'c' | b's' => {
                let s = check_bytes(lua, &args, arg)?;
                arg += 1;
                let size = if size == 0 { s.len() } else { size };
                if s.len() < size {
                    // The C code has already moved past the argument here.
                    return Err(LibError::Arg(arg as i32, "string too short".into()));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => f.control(opt, &mut h)?,
        }
    }
    Ok(MultiValue::from_vec(vec![Value::String(
        lua.create_string(&out)?,
    )]))
}

fn too_short() -> LibError {
    LibError::Arg(2, "data string too short".into())
}

fn unpack(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    let args: Vec<Value> = args.into_iter().collect();
    let fmt = check_bytes(lua, &args, 1)?;
    let data = check_bytes(lua, &args, 2)?;
    // The offset is 1-based; C keeps it in a size_t, so a negative one
    // becomes huge and fails the length check below.
    let offset = opt_integer(lua, &args, 3, 1)?;
    if offset == 0 {
        return Err(LibError::Arg(3, "offset must be 1 or greater".into()));
    }
    let mut pos = (offset as u64).wrapping_sub(1);
    let mut f = Format { fmt: &fmt, pos: 0 };
    let mut h = Header::default();
    let mut out: Vec<Value> = Vec::new();
    let fits = |pos: u64, size: usize| {
        pos.checked_add(size as u64)
            .is_some_and(|e| e <= data.len() as u64)
    };
    while let Some(opt) = f.next_opt() {
        let mut size = f.size(opt)?;
        pos = pos.wrapping_add(to_align(pos as usize, &h, opt, size) as u64);
        if !fits(pos, size) {
            return Err(too_short());
        }
        let p = pos as usize;
        match opt {
            _ if is_int_opt(opt) => {
                let signed = opt.is_ascii_lowercase();
                out.push(Value::Number(get_integer(
                    &data[p..p + size],
                    h.little,
                    signed,
                    size,
                )));
            }
            b'x' => {}
            b'f' => {
                let mut b: [u8; 4] = data[p..p + 4].try_into().expect("4 bytes");
                if !h.little {
                    b.reverse();
                }
                out.push(Value::Number(f64::from(f32::from_le_bytes(b))));
            }
            b'd' => {
                let mut b: [u8; 8] = data[p..p + 8].try_into().expect("8 bytes");
                if !h.little {
                    b.reverse();
                }
                out.push(Value::Number(f64::from_le_bytes(b)));
            }
            b'c' => {
                if size == 0 {
                    // 'c0' takes its length from the value unpacked just
                    // before it, which it consumes.
                    let prev = out.last().and_then(super::as_number);
                    let Some(n) = prev else {
                        return Err(LibError::Msg("format 'c0' needs a previous size".into()));
                    };
                    out.pop();
                    size = f64_to_i64(n) as usize;
                    if !fits(pos, size) {
                        return Err(too_short());
                    }
                }
                out.push(Value::String(lua.create_string(&data[p..p + size])?));
            }
            b's' => {
                let Some(len) = data[p..].iter().position(|&b| b == 0) else {
                    return Err(LibError::Msg("unfinished string in data".into()));
                };
                out.push(Value::String(lua.create_string(&data[p..p + len])?));
                size = len + 1;
            }
            _ => f.control(opt, &mut h)?,
        }
        pos = pos.wrapping_add(size as u64);
    }
    out.push(Value::Number(pos.wrapping_add(1) as i64 as f64));
    Ok(MultiValue::from_vec(out))
}

fn size(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    let args: Vec<Value> = args.into_iter().collect();
    let fmt = check_bytes(lua, &args, 1)?;
    let mut f = Format { fmt: &fmt, pos: 0 };
    let mut h = Header::default();
    let mut pos = 0usize;
    while let Some(opt) = f.next_opt() {
        let size = f.size(opt)?;
        pos += to_align(pos, &h, opt, size);
        if opt == b's' {
            return Err(LibError::Arg(1, "option 's' has no fixed size".into()));
        }
        if opt == b'c' && size == 0 {
            return Err(LibError::Arg(1, "option 'c0' has no fixed size".into()));
        }
        // Letters and digits never reach the header options here, so an
        // unknown letter counts as size 0 instead of failing.
        if !opt.is_ascii_alphanumeric() {
            f.control(opt, &mut h)?;
        }
        pos += size;
    }
    Ok(MultiValue::from_vec(vec![Value::Number(pos as f64)]))
}

pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    register(lua, &t, "pack", pack)?;
    register(lua, &t, "unpack", unpack)?;
    register(lua, &t, "size", size)?;
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
            (r#""b", 1"#, b"\x01"),
            (r#"">i", 1"#, b"\0\0\0\x01"),
            (r#""<i", 1"#, b"\x01\0\0\0"),
            (r#""!i", 1"#, b"\x01\0\0\0"),
            (r#""<h", -2"#, b"\xfe\xff"),
            (r#""<H", 65536"#, b"\0\0"),
            (r#""<H", -1"#, b"\xff\xff"),
            (r#""<I2", -1.5"#, b"\xff\xff"),
            (r#""<l", -1"#, b"\xff\xff\xff\xff\xff\xff\xff\xff"),
            (r#""<L", 2^40"#, b"\0\0\0\0\0\x01\0\0"),
            (r#""<i3", 0x123456"#, b"\x56\x34\x12"),
            (
                r#""<i16", -1"#,
                b"\xff\xff\xff\xff\xff\xff\xff\xff\0\0\0\0\0\0\0\0",
            ),
            (r#""<i0", 1"#, b""),
            (r#""<T", 5"#, b"\x05\0\0\0\0\0\0\0"),
            (r#""<i", 1.9"#, b"\x01\0\0\0"),
            (r#""<i", -1.9"#, b"\xff\xff\xff\xff"),
            (r#""<b", 300"#, b","),
            (r#""<B", 1e20"#, b"\0"),
            (r#""<l", 2^63"#, b"\0\0\0\0\0\0\0\x80"),
            (r#""<L", 2^64"#, b"\0\0\0\0\0\0\0\0"),
            (r#""<L", -1"#, b"\xff\xff\xff\xff\xff\xff\xff\xff"),
            (r#""<i", 0/0"#, b"\0\0\0\0"),
            (r#""b", "7""#, b"\x07"),
            (r#""<d", 1.5"#, b"\0\0\0\0\0\0\xf8\x3f"),
            (r#"">d", 1.5"#, b"\x3f\xf8\0\0\0\0\0\0"),
            (r#""<f", 1.5"#, b"\0\0\xc0\x3f"),
            (r#""s", "a\0b""#, b"a\0b\0"),
            (r#""s", 1.5"#, b"1.5\0"),
            (r#""c", "abc""#, b"a"),
            (r#""c2", "abc""#, b"ab"),
            (r#""c0", "abc""#, b"abc"),
            (r#""c", 12"#, b"1"),
            (r#""x""#, b"\0"),
            (r#""<bxh", 1, 2"#, b"\x01\0\x02\0"),
            (r#""!4<bi", 1, 2"#, b"\x01\0\0\0\x02\0\0\0"),
            (r#""!2<bi", 1, 2"#, b"\x01\0\x02\0\0\0"),
            (r#""!<bd", 1, 2"#, b"\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x40"),
            (r#""<b i", 1, 2"#, b"\x01\x02\0\0\0"),
            (r#""<h>h", 1, 1"#, b"\x01\0\0\x01"),
            (r#""!!i", 1"#, b"\x01\0\0\0"),
        ];
        for (args, want) in cases {
            ok(&l, &format!("return struct.pack({args})"), want);
        }
    }

    #[test]
    fn pack_errors() {
        let l = lua();
        for (args, msg) in [
            (
                r#""c5", "abc""#,
                "bad argument #3 to 'pack' (string too short)",
            ),
            (
                r#""<c", """#,
                "bad argument #3 to 'pack' (string too short)",
            ),
            (r#""!3<bi", 1, 2"#, "alignment 3 is not a power of 2"),
            (r#""!0i", 1"#, "alignment 0 is not a power of 2"),
            (
                r#""<z""#,
                "bad argument #1 to 'pack' (invalid format option 'z')",
            ),
            (
                r#""=h", 1"#,
                "bad argument #1 to 'pack' (invalid format option '=')",
            ),
            ("1", "bad argument #1 to 'pack' (invalid format option '1')"),
            (
                r#""b""#,
                "bad argument #2 to 'pack' (number expected, got nil)",
            ),
            (
                r#""bb", 1"#,
                "bad argument #3 to 'pack' (number expected, got nil)",
            ),
            (
                r#""b", "x""#,
                "bad argument #2 to 'pack' (number expected, got string)",
            ),
            (
                r#""<c0""#,
                "bad argument #2 to 'pack' (string expected, got nil)",
            ),
            (
                "",
                "bad argument #1 to 'pack' (string expected, got no value)",
            ),
            (
                r#""<i99", 1"#,
                "integral size 99 is larger than limit of 32",
            ),
            (r#""<i4294967297", 1"#, "integral size overflow"),
        ] {
            err(
                &l,
                &format!("return struct.pack({args})"),
                &format!("user_script:1: {msg}"),
            );
        }
    }

    #[test]
    fn unpack() {
        let l = lua();
        for (args, want) in [
            (r#""<i", struct.pack("<i", -5)"#, "{-5,5}"),
            (r#""<I", "\255\255\255\255""#, "{4294967295,5}"),
            (r#""<i", "\255\255\255\255""#, "{-1,5}"),
            (r#""<i3", "\255\255\255""#, "{-1,4}"),
            (r#""<I3", "\255\255\255""#, "{16777215,4}"),
            (r#""<i16", string.rep("\255", 16)"#, "{-1,17}"),
            (r#""<I9", string.rep("\1", 9)"#, "{72340172838076672,10}"),
            (r#""<i9", "\1\0\0\0\0\0\0\0\1""#, "{1,10}"),
            (r#"">I2", "\1\2""#, "{258,3}"),
            (r#""<bb", "\1\2\3", 2"#, "{2,3,4}"),
            (r#""<H", "\1\2", 1.9"#, "{513,3}"),
            (r#""<H", "\1\2", "1""#, "{513,3}"),
            (r#""s", "ab\0cd""#, "{ab,4}"),
            (r#""c2c1", "abcd""#, "{ab,c,4}"),
            (r#""bc0", "\2abcd""#, "{ab,4}"),
            (r#""<d", struct.pack("<d", 1.5)"#, "{1.5,9}"),
            (r#""!4<bi", struct.pack("!4<bi", 1, 2)"#, "{1,2,9}"),
            (r#""x", "a""#, "{2}"),
            (r#""", "a""#, "{1}"),
            (r#""", "a", -1"#, "{-1}"),
        ] {
            ok(
                &l,
                &format!("return {{struct.unpack({args})}}"),
                want.as_bytes(),
            );
        }
        ok(
            &l,
            r#"return struct.unpack("<f", struct.pack("<f", 0.1)) == 0.10000000149011612"#,
            b"true",
        );
        ok(
            &l,
            r#"return struct.unpack("<L", string.rep("\255", 8)) == 2^64"#,
            b"true",
        );
    }

    #[test]
    fn unpack_errors() {
        let l = lua();
        for (args, msg) in [
            (
                r#""<i", "\1\2""#,
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                r#""<b", "\1\2\3", 4"#,
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                r#""<b", "\1\2\3", 0"#,
                "bad argument #3 to 'unpack' (offset must be 1 or greater)",
            ),
            (
                r#""<b", "\1\2\3", -1"#,
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                r#""<H", "\1\2", "x""#,
                "bad argument #3 to 'unpack' (number expected, got string)",
            ),
            (r#""s", "abcd""#, "unfinished string in data"),
            (r#""c0", "abcd""#, "format 'c0' needs a previous size"),
            (
                r#""bc0", "\9abcd""#,
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                r#""c9", "abcd""#,
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                r#""z", "ab""#,
                "bad argument #1 to 'unpack' (invalid format option 'z')",
            ),
            (
                r#""<i""#,
                "bad argument #2 to 'unpack' (string expected, got no value)",
            ),
            (
                r#""<i", 5"#,
                "bad argument #2 to 'unpack' (data string too short)",
            ),
        ] {
            err(
                &l,
                &format!("return struct.unpack({args})"),
                &format!("user_script:1: {msg}"),
            );
        }
    }

    #[test]
    fn size() {
        let l = lua();
        for (fmt, want) in [
            ("<i", "4"),
            ("!4bi", "8"),
            ("bd", "9"),
            ("!bd", "16"),
            ("c10", "10"),
            ("x", "1"),
            ("<i7", "7"),
            ("z", "0"),
            (" i ", "4"),
        ] {
            ok(&l, &format!("return struct.size('{fmt}')"), want.as_bytes());
        }
        err(
            &l,
            "return struct.size('s')",
            "user_script:1: bad argument #1 to 'size' (option 's' has no fixed size)",
        );
        err(
            &l,
            "return struct.size('c0')",
            "user_script:1: bad argument #1 to 'size' (option 'c0' has no fixed size)",
        );
        err(
            &l,
            "return struct.size()",
            "user_script:1: bad argument #1 to 'size' (string expected, got no value)",
        );
        ok(
            &l,
            "local t = {} for k in pairs(struct) do t[#t+1]=k end table.sort(t) return table.concat(t, ',')",
            b"pack,size,unpack",
        );
    }
}
