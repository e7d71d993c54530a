//! FUNCTION libraries: their metadata, the server-wide registry, and the
//! payload of FUNCTION DUMP / RESTORE, which is also how the libraries are
//! persisted.
//!
//! The payload is Redis's: each library as the RDB opcode FUNCTION2 (245)
//! and its code as an RDB string, then the RDB version (2 bytes, little
//! endian) and the CRC64 of everything before (8 bytes, little endian), so
//! a dump taken from Redis restores here and the other way round.

use super::ScriptFlags;
use bytes::Bytes;
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A function a library registers.
#[derive(Clone, Debug)]
pub struct FunctionInfo {
    pub name: String,
    pub description: Option<String>,
    pub flags: ScriptFlags,
}

/// A loaded library.
#[derive(Debug)]
pub struct Library {
    pub name: String,
    /// The code as FUNCTION LOAD received it, shebang included.
    pub code: Bytes,
    pub functions: Vec<FunctionInfo>,
}

/// The libraries by name.
pub type Libraries = BTreeMap<String, Arc<Library>>;

/// The loaded libraries. Each change makes a new generation, which tells
/// every thread's Lua state to load them again.
#[derive(Default)]
pub struct Registry {
    state: RwLock<(u64, Arc<Libraries>)>,
}

impl Registry {
    pub fn snapshot(&self) -> (u64, Arc<Libraries>) {
        let state = self.state.read();
        (state.0, state.1.clone())
    }

    pub fn libraries(&self) -> Arc<Libraries> {
        self.state.read().1.clone()
    }

    /// The library registering the function `name`, and the function.
    pub fn function(&self, name: &str) -> Option<(Arc<Library>, FunctionInfo)> {
        let libraries = self.libraries();
        libraries.values().find_map(|library| {
            library
                .functions
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(name))
                .map(|f| (library.clone(), f.clone()))
        })
    }

    /// Replaces the libraries with `libraries` (already checked).
    pub fn set(&self, libraries: Libraries) {
        let mut state = self.state.write();
        // Never 0, which a new Lua state has loaded (nothing).
        state.0 += 1;
        state.1 = Arc::new(libraries);
    }
}

/// Adds `library` to `libraries`: Redis's checks of FUNCTION LOAD and
/// RESTORE (a library replaced only with `replace`, no function name in
/// two libraries). The error is the reply text.
pub fn add(libraries: &mut Libraries, library: Library, replace: bool) -> Result<(), String> {
    if libraries.contains_key(&library.name) && !replace {
        return Err(format!("ERR Library '{}' already exists", library.name));
    }
    for function in &library.functions {
        let taken = libraries.values().any(|other| {
            other.name != library.name
                && other
                    .functions
                    .iter()
                    .any(|f| f.name.eq_ignore_ascii_case(&function.name))
        });
        if taken {
            return Err(format!("ERR Function {} already exists", function.name));
        }
    }
    libraries.insert(library.name.clone(), Arc::new(library));
    Ok(())
}

/// Whether a library or function name is valid: letters, digits and
/// underscores, at least one.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Redis's `functionExtractLibMetaData`: the library name from the
/// `#!lua name=...` line, and the code after it (from its line feed, so
/// line numbers stay the user's). The error is the message without code.
pub fn parse_metadata(code: &[u8]) -> Result<(String, &[u8]), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("Invalid library metadata".into());
    };
    let line = String::from_utf8_lossy(&code[2..end]).into_owned();
    let mut parts = line.split([' ', '\t']).filter(|p| !p.is_empty());
    let Some(engine) = parts.next() else {
        return Err("Invalid library metadata".into());
    };
    let mut name = None;
    for part in parts {
        let value = part
            .get(..5)
            .filter(|prefix| prefix.eq_ignore_ascii_case("name="))
            .map(|_| &part[5..]);
        match value {
            Some(_) if name.is_some() => {
                return Err("Invalid metadata value, name argument was given multiple times".into())
            }
            Some(value) => name = Some(value.to_string()),
            None => return Err(format!("Invalid metadata value given: {part}")),
        }
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    if !valid_name(&name) {
        return Err(INVALID_NAME.into());
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("Engine '{engine}' not found"));
    }
    Ok((name, &code[end..]))
}

/// Redis's reply to a bad library (or function) name.
pub const INVALID_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// RDB's opcode for a function library.
const OPCODE_FUNCTION2: u8 = 245;
/// RDB's opcode for the pre-release function format.
const OPCODE_FUNCTION_PRE_GA: u8 = 246;
/// The RDB version of Redis 7.2 dumps.
const RDB_VERSION: u16 = 11;

fn crc64(bytes: &[u8]) -> u64 {
    const CRC: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);
    CRC.checksum(bytes)
}

/// FUNCTION DUMP's payload for `libraries`.
pub fn dump(libraries: &Libraries) -> Vec<u8> {
    let mut out = Vec::new();
    for library in libraries.values() {
        out.push(OPCODE_FUNCTION2);
        write_length(&mut out, library.code.len() as u64);
        out.extend_from_slice(&library.code);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The library codes of a FUNCTION DUMP payload; the error is the reply.
pub fn parse_dump(payload: &[u8]) -> Result<Vec<Bytes>, String> {
    const WRONG: &str = "ERR DUMP payload version or checksum are wrong";
    if payload.len() < 10 {
        return Err(WRONG.into());
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..].try_into().expect("8 bytes"));
    if version > RDB_VERSION || crc64(&payload[..payload.len() - 8]) != crc {
        return Err(WRONG.into());
    }
    let mut codes = Vec::new();
    let mut rest = body;
    while let Some((&opcode, after)) = rest.split_first() {
        match opcode {
            OPCODE_FUNCTION2 => {}
            OPCODE_FUNCTION_PRE_GA => return Err("ERR Pre-GA function format not supported".into()),
            _ => return Err("ERR given type is not a function".into()),
        }
        let (code, after) =
            read_string(after).ok_or_else(|| "ERR payload is not valid".to_string())?;
        codes.push(Bytes::from(code));
        rest = after;
    }
    Ok(codes)
}

/// RDB's length encoding.
fn write_length(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.extend_from_slice(&((len as u16) | 0x4000).to_be_bytes());
    } else if len <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// A length, or a special encoding (`Err(kind)`), and what follows.
fn read_length(bytes: &[u8]) -> Option<(Result<u64, u8>, &[u8])> {
    let (&first, rest) = bytes.split_first()?;
    match first >> 6 {
        0 => Some((Ok(u64::from(first & 0x3f)), rest)),
        1 => {
            let (&second, rest) = rest.split_first()?;
            Some((Ok(u64::from(first & 0x3f) << 8 | u64::from(second)), rest))
        }
        2 if first == 0x80 => {
            let (len, rest) = rest.split_at_checked(4)?;
            Some((
                Ok(u64::from(u32::from_be_bytes(len.try_into().ok()?))),
                rest,
            ))
        }
        2 if first == 0x81 => {
            let (len, rest) = rest.split_at_checked(8)?;
            Some((Ok(u64::from_be_bytes(len.try_into().ok()?)), rest))
        }
        3 => Some((Err(first & 0x3f), rest)),
        _ => None,
    }
}

/// An RDB string: plain, an integer, or LZF-compressed.
fn read_string(bytes: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let (len, rest) = read_length(bytes)?;
    match len {
        Ok(len) => {
            let (s, rest) = rest.split_at_checked(usize::try_from(len).ok()?)?;
            Some((s.to_vec(), rest))
        }
        Err(0) => {
            let (&b, rest) = rest.split_first()?;
            Some(((b as i8).to_string().into_bytes(), rest))
        }
        Err(1) => {
            let (n, rest) = rest.split_at_checked(2)?;
            Some((
                i16::from_le_bytes(n.try_into().ok()?)
                    .to_string()
                    .into_bytes(),
                rest,
            ))
        }
        Err(2) => {
            let (n, rest) = rest.split_at_checked(4)?;
            Some((
                i32::from_le_bytes(n.try_into().ok()?)
                    .to_string()
                    .into_bytes(),
                rest,
            ))
        }
        Err(3) => {
            let (Ok(compressed), rest) = read_length(rest)? else {
                return None;
            };
            let (Ok(original), rest) = read_length(rest)? else {
                return None;
            };
            let (data, rest) = rest.split_at_checked(usize::try_from(compressed).ok()?)?;
            let out = lzf::decompress(data, usize::try_from(original).ok()?).ok()?;
            (out.len() as u64 == original).then_some((out, rest))
        }
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_round_trips_and_rejects_corruption() {
        let mut libraries = Libraries::new();
        for (name, size) in [("a", 10), ("b", 100), ("c", 20_000)] {
            let code = format!("#!lua name={name}\n{}", "-".repeat(size));
            libraries.insert(
                name.into(),
                Arc::new(Library {
                    name: name.into(),
                    code: Bytes::from(code),
                    functions: Vec::new(),
                }),
            );
        }
        let payload = dump(&libraries);
        let codes = parse_dump(&payload).unwrap();
        let expected: Vec<_> = libraries.values().map(|l| l.code.clone()).collect();
        assert_eq!(codes, expected);
        let mut broken = payload.clone();
        broken[3] ^= 1;
        assert!(parse_dump(&broken).is_err());
        assert!(parse_dump(&payload[..5]).is_err());
    }

    #[test]
    fn metadata_is_parsed_as_redis_does() {
        assert_eq!(
            parse_metadata(b"#!lua name=lib\nreturn").unwrap(),
            ("lib".to_string(), &b"\nreturn"[..])
        );
        assert_eq!(
            parse_metadata(b"return").unwrap_err(),
            "Missing library metadata"
        );
        assert_eq!(
            parse_metadata(b"#!lua name=a b=c\n").unwrap_err(),
            "Invalid metadata value given: b=c"
        );
        assert_eq!(
            parse_metadata(b"#!lua\n").unwrap_err(),
            "Library name was not given"
        );
        assert_eq!(
            parse_metadata(b"#!js name=x\n").unwrap_err(),
            "Engine 'js' not found"
        );
    }
}
