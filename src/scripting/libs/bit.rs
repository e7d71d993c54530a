//! `bit`: LuaBitOp 1.0.2 bitwise operations on 32-bit integers. Arguments
//! are normalised as LuaBitOp does (rounded to the nearest integer, ties to
//! even, modulo 2^32) and results are signed 32-bit numbers.

use mlua::{Lua, MultiValue, Table, Value};

use super::{check_number, register, LibResult};

/// LuaBitOp's `barg`: the argument's number converted to 32 bits by adding
/// 2^52 + 2^51 and keeping the low word of the double, which rounds to
/// nearest-even and wraps modulo 2^32.
fn barg(lua: &Lua, args: &[Value], n: usize) -> LibResult<i32> {
    let x = check_number(lua, args, n)?;
    Ok(tobit(x))
}

fn tobit(x: f64) -> i32 {
    (x + 6_755_399_441_055_744.0).to_bits() as u32 as i32
}

fn result(b: i32) -> LibResult<MultiValue> {
    Ok(MultiValue::from_vec(vec![Value::Number(f64::from(b))]))
}

/// Registers a two-argument operation (value, shift count).
fn shift(lua: &Lua, t: &Table, name: &str, op: fn(i32, u32) -> i32) -> mlua::Result<()> {
    register(lua, t, name, move |lua, args| {
        let args: Vec<Value> = args.into_iter().collect();
        let b = barg(lua, &args, 1)?;
        let n = barg(lua, &args, 2)? as u32 & 31;
        result(op(b, n))
    })
}

/// Registers a fold over one or more arguments.
fn fold(lua: &Lua, t: &Table, name: &str, op: fn(i32, i32) -> i32) -> mlua::Result<()> {
    register(lua, t, name, move |lua, args| {
        let args: Vec<Value> = args.into_iter().collect();
        let mut acc = barg(lua, &args, 1)?;
        for i in 2..=args.len() {
            acc = op(acc, barg(lua, &args, i)?);
        }
        result(acc)
    })
}

pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    register(lua, &t, "tobit", |lua, args| {
        let args: Vec<Value> = args.into_iter().collect();
        result(barg(lua, &args, 1)?)
    })?;
    register(lua, &t, "bnot", |lua, args| {
        let args: Vec<Value> = args.into_iter().collect();
        result(!barg(lua, &args, 1)?)
    })?;
    register(lua, &t, "bswap", |lua, args| {
        let args: Vec<Value> = args.into_iter().collect();
        result(barg(lua, &args, 1)?.swap_bytes())
    })?;
    register(lua, &t, "tohex", |lua, args| {
        let args: Vec<Value> = args.into_iter().collect();
        let b = barg(lua, &args, 1)? as u32;
        let mut n = match args.get(1) {
            None | Some(Value::Nil) => 8,
            Some(_) => barg(lua, &args, 2)?,
        };
        let upper = n < 0;
        if upper {
            n = n.wrapping_neg();
        }
        let n = (n as u32).min(8) as usize;
        let hex = if upper {
            format!("{b:08X}")
        } else {
            format!("{b:08x}")
        };
        Ok(MultiValue::from_vec(vec![Value::String(
            lua.create_string(&hex[8 - n..])?,
        )]))
    })?;
    fold(lua, &t, "band", |a, b| a & b)?;
    fold(lua, &t, "bor", |a, b| a | b)?;
    fold(lua, &t, "bxor", |a, b| a ^ b)?;
    shift(lua, &t, "lshift", |b, n| ((b as u32) << n) as i32)?;
    shift(lua, &t, "rshift", |b, n| ((b as u32) >> n) as i32)?;
    shift(lua, &t, "arshift", |b, n| b >> n)?;
    shift(lua, &t, "rol", |b, n| (b as u32).rotate_left(n) as i32)?;
    shift(lua, &t, "ror", |b, n| (b as u32).rotate_right(n) as i32)?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    //! Expectations taken from redis-server 7.0 (EVAL of the same snippets).

    use super::super::testutil::{err, lua, ok};

    #[test]
    fn tobit() {
        let l = lua();
        for (expr, want) in [
            ("0xffffffff", "-1"),
            ("2^32+5", "5"),
            ("1.5", "2"),
            ("2.5", "2"),
            ("-1.5", "-2"),
            ("0.5", "0"),
            ("-0.5", "0"),
            ("2^53", "0"),
            ("1e20", "2025163840"),
            ("0/0", "0"),
            ("1/0", "0"),
            ("2147483648", "-2147483648"),
            ("-2147483649", "2147483647"),
            ("'10'", "10"),
            ("'0x10'", "16"),
        ] {
            ok(&l, &format!("return bit.tobit({expr})"), want.as_bytes());
        }
        err(
            &l,
            "return bit.tobit('x')",
            "user_script:1: bad argument #1 to 'tobit' (number expected, got string)",
        );
        err(
            &l,
            "return bit.tobit()",
            "user_script:1: bad argument #1 to 'tobit' (number expected, got no value)",
        );
        err(
            &l,
            "return bit.tobit(nil)",
            "user_script:1: bad argument #1 to 'tobit' (number expected, got nil)",
        );
        err(
            &l,
            "return bit.tobit(true)",
            "user_script:1: bad argument #1 to 'tobit' (number expected, got boolean)",
        );
    }

    #[test]
    fn tohex() {
        let l = lua();
        ok(&l, "return bit.tohex(255)", b"000000ff");
        ok(&l, "return bit.tohex(-1)", b"ffffffff");
        ok(&l, "return bit.tohex(255, 4)", b"00ff");
        ok(&l, "return bit.tohex(255, -4)", b"00FF");
        ok(&l, "return bit.tohex(0x12345678, 2)", b"78");
        ok(&l, "return bit.tohex(1, 0)", b"");
        ok(&l, "return bit.tohex(1, 9)", b"00000001");
        ok(&l, "return bit.tohex(1, -9)", b"00000001");
        ok(&l, "return bit.tohex(0xabcdef, -8)", b"00ABCDEF");
        ok(&l, "return bit.tohex(1.9)", b"00000002");
        ok(&l, "return bit.tohex(0x80000000, -3)", b"000");
        err(
            &l,
            "return bit.tohex(1, 'x')",
            "user_script:1: bad argument #2 to 'tohex' (number expected, got string)",
        );
    }

    #[test]
    fn operations() {
        let l = lua();
        for (expr, want) in [
            ("bnot(0)", "-1"),
            ("bnot(5)", "-6"),
            ("band(0xff, 0x0f, 0x3)", "3"),
            ("band(5)", "5"),
            ("bor(1, 2, 4, 8)", "15"),
            ("bxor(0xff, 0x0f)", "240"),
            ("bor(0x80000000, 0)", "-2147483648"),
            ("lshift(1, 31)", "-2147483648"),
            ("lshift(1, 32)", "1"),
            ("lshift(1, 33)", "2"),
            ("lshift(1, -1)", "-2147483648"),
            ("rshift(-1, 28)", "15"),
            ("rshift(-1, 0)", "-1"),
            ("arshift(-256, 4)", "-16"),
            ("arshift(0x80000000, 31)", "-1"),
            ("rol(0x12345678, 12)", "1164411171"),
            ("ror(0x12345678, 12)", "1736516421"),
            ("rol(1, 32)", "1"),
            ("ror(1, 1)", "-2147483648"),
            ("bswap(0x12345678)", "2018915346"),
            ("bswap(-1)", "-1"),
        ] {
            ok(&l, &format!("return bit.{expr}"), want.as_bytes());
        }
        err(
            &l,
            "return bit.band()",
            "user_script:1: bad argument #1 to 'band' (number expected, got no value)",
        );
        err(
            &l,
            "return bit.band(1, 'x')",
            "user_script:1: bad argument #2 to 'band' (number expected, got string)",
        );
        err(
            &l,
            "return bit.band({})",
            "user_script:1: bad argument #1 to 'band' (number expected, got table)",
        );
        err(
            &l,
            "return bit.lshift(1)",
            "user_script:1: bad argument #2 to 'lshift' (number expected, got no value)",
        );
        ok(
            &l,
            "local ok, e = pcall(bit.band, 'x') return e",
            b"bad argument #1 to '?' (number expected, got string)",
        );
        ok(
            &l,
            "local t = {} for k in pairs(bit) do t[#t+1]=k end table.sort(t) return table.concat(t, ',')",
            b"arshift,band,bnot,bor,bswap,bxor,lshift,rol,ror,rshift,tobit,tohex",
        );
    }
}
