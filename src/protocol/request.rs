//! Request parsing: RESP multibulk arrays (decoded by the redis-protocol
//! crate) and inline commands (a person typing `PING` into telnet).
//!
//! Errors carry Redis's exact protocol-error texts; after one the connection
//! replies and closes, as Redis does.

use bytes::{Buf, Bytes, BytesMut};
use redis_protocol::resp2::types::{BytesFrame, Resp2Frame};

/// Limits a client's requests must respect.
#[derive(Clone, Copy, Debug)]
pub struct RequestLimits {
    /// `proto-max-bulk-len`: the largest argument accepted.
    pub max_bulk_len: u64,
}

/// The longest inline request or header line Redis accepts.
const MAX_INLINE_LEN: usize = 64 * 1024;
/// The most arguments one request may have.
const MAX_MULTIBULK_LEN: i64 = 1024 * 1024;

/// A malformed request; its text is Redis's error reply (without `ERR`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(text: impl Into<String>) -> ProtocolError {
        ProtocolError(format!("Protocol error: {}", text.into()))
    }
}

/// Parses one request from the front of `buf`.
///
/// Returns `Ok(Some(args))` and consumes its bytes when a whole request is
/// there (`args` may be empty for a blank inline line or `*0`), `Ok(None)`
/// when more bytes are needed (reserving room for them in `buf`), or the
/// protocol error to reply with before closing.
pub fn parse_request(
    buf: &mut BytesMut,
    limits: RequestLimits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] != b'*' {
        return parse_inline(buf);
    }
    match redis_protocol::resp2::decode::decode_bytes_mut(buf) {
        Ok(Some((frame, _, _))) => frame_to_args(frame, limits).map(Some),
        Ok(None) => {
            // Incomplete: check the headers seen so far so that a huge
            // declared length is refused before it is buffered.
            let needed = scan_headers(buf, limits)?;
            if needed > buf.len() {
                buf.reserve(needed - buf.len());
            }
            Ok(None)
        }
        Err(_) => {
            // The crate refused the frame; find Redis's word for why.
            scan_headers(buf, limits)?;
            Err(ProtocolError::new("invalid multibulk length"))
        }
    }
}

fn frame_to_args(frame: BytesFrame, limits: RequestLimits) -> Result<Vec<Bytes>, ProtocolError> {
    let items = match frame {
        BytesFrame::Array(items) => items,
        // `*-1` is a null array, which Redis treats as no command.
        BytesFrame::Null => return Ok(Vec::new()),
        _ => return Err(ProtocolError::new("invalid multibulk length")),
    };
    if items.len() as i64 > MAX_MULTIBULK_LEN {
        return Err(ProtocolError::new("invalid multibulk length"));
    }
    items
        .into_iter()
        .map(|item| match item {
            BytesFrame::BulkString(data) if data.len() as u64 <= limits.max_bulk_len => Ok(data),
            BytesFrame::BulkString(_) | BytesFrame::Null => {
                Err(ProtocolError::new("invalid bulk length"))
            }
            other => Err(ProtocolError::new(format!(
                "expected '$', got '{}'",
                other.kind().to_byte() as char
            ))),
        })
        .collect()
}

/// Walks the headers of an incomplete multibulk request, checking each
/// declared length; returns how many bytes the whole request will need as
/// far as the headers tell.
fn scan_headers(buf: &[u8], limits: RequestLimits) -> Result<usize, ProtocolError> {
    let (count, mut pos) = match read_line(buf, 0)? {
        Some((line, next)) => (parse_len(&line[1..], "invalid multibulk length")?, next),
        None => return Ok(buf.len() + 1),
    };
    if count > MAX_MULTIBULK_LEN {
        return Err(ProtocolError::new("invalid multibulk length"));
    }
    for _ in 0..count.max(0) {
        if pos >= buf.len() {
            return Ok(pos + 1);
        }
        if buf[pos] != b'$' {
            return Err(ProtocolError::new(format!(
                "expected '$', got '{}'",
                buf[pos] as char
            )));
        }
        let (line, next) = match read_line(buf, pos)? {
            Some(found) => found,
            None => return Ok(buf.len() + 1),
        };
        let len = parse_len(&line[1..], "invalid bulk length")?;
        if len < 0 || len as u64 > limits.max_bulk_len {
            return Err(ProtocolError::new("invalid bulk length"));
        }
        pos = next + len as usize + 2;
    }
    Ok(pos)
}

/// The line starting at `start` (without its `\r\n`) and the position after
/// it, or `None` if it has not all arrived.
fn read_line(buf: &[u8], start: usize) -> Result<Option<(&[u8], usize)>, ProtocolError> {
    match buf[start..].iter().position(|&b| b == b'\r') {
        Some(end) if start + end + 1 < buf.len() => {
            Ok(Some((&buf[start..start + end], start + end + 2)))
        }
        Some(_) => Ok(None),
        None if buf.len() - start > MAX_INLINE_LEN => {
            Err(ProtocolError::new("too big mbulk count string"))
        }
        None => Ok(None),
    }
}

fn parse_len(digits: &[u8], what: &str) -> Result<i64, ProtocolError> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| ProtocolError::new(what))
}

fn parse_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(newline) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > MAX_INLINE_LEN {
            return Err(ProtocolError::new("too big inline request"));
        }
        return Ok(None);
    };
    let line = buf.split_to(newline + 1);
    let mut line = &line[..newline];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    split_args(line)
        .map(Some)
        .ok_or_else(|| ProtocolError::new("unbalanced quotes in request"))
}

/// Splits an inline request into arguments with Redis's quoting rules:
/// "double quotes" with backslash escapes (`\n`, `\xHH`, ...), 'single
/// quotes' with `\'`, and a closing quote that must end the argument.
pub fn split_args(mut line: &[u8]) -> Option<Vec<Bytes>> {
    let mut args = Vec::new();
    loop {
        while line.first().is_some_and(|b| b.is_ascii_whitespace()) {
            line.advance(1);
        }
        if line.is_empty() {
            return Some(args);
        }
        let mut current = Vec::new();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            let Some(&c) = line.first() else {
                if in_double || in_single {
                    return None;
                }
                break;
            };
            if in_double {
                if c == b'\\' && line.len() >= 4 && line[1] == b'x' && is_hex_pair(line[2], line[3])
                {
                    current.push(hex_value(line[2]) * 16 + hex_value(line[3]));
                    line.advance(4);
                    continue;
                }
                if c == b'\\' && line.len() >= 2 {
                    current.push(match line[1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                    line.advance(2);
                    continue;
                }
                if c == b'"' {
                    // The closing quote must be followed by a space or the end.
                    if line.len() > 1 && !line[1].is_ascii_whitespace() {
                        return None;
                    }
                    line.advance(1);
                    break;
                }
                current.push(c);
                line.advance(1);
            } else if in_single {
                if c == b'\\' && line.len() >= 2 && line[1] == b'\'' {
                    current.push(b'\'');
                    line.advance(2);
                    continue;
                }
                if c == b'\'' {
                    if line.len() > 1 && !line[1].is_ascii_whitespace() {
                        return None;
                    }
                    line.advance(1);
                    break;
                }
                current.push(c);
                line.advance(1);
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | b'\0' => {
                        line.advance(1);
                        break;
                    }
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    _ => current.push(c),
                }
                line.advance(1);
            }
        }
        args.push(Bytes::from(current));
    }
}

fn is_hex_pair(a: u8, b: u8) -> bool {
    a.is_ascii_hexdigit() && b.is_ascii_hexdigit()
}

fn hex_value(c: u8) -> u8 {
    (c as char).to_digit(16).expect("checked hex digit") as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: RequestLimits = RequestLimits {
        max_bulk_len: 512 * 1024 * 1024,
    };

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(args) = parse_request(&mut buf, LIMITS)? {
            out.push(args);
        }
        Ok(out)
    }

    #[test]
    fn pipelined_multibulk_requests() {
        let parsed =
            parse_all(b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$3").unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1], vec![Bytes::from("GET"), Bytes::from("k")]);
    }

    #[test]
    fn inline_requests_with_quotes() {
        let parsed = parse_all(b"SET k \"a b\\x41\\n\" 'c\\'d'\r\nPING\n\r\n").unwrap();
        assert_eq!(
            parsed[0],
            vec![
                Bytes::from("SET"),
                Bytes::from("k"),
                Bytes::from("a bA\n"),
                Bytes::from("c'd")
            ]
        );
        assert_eq!(parsed[1], vec![Bytes::from("PING")]);
        assert!(parsed[2].is_empty());
        assert_eq!(
            parse_all(b"SET \"k\n").unwrap_err().0,
            "Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            parse_all(b"SET \"k\"x\n").unwrap_err().0,
            "Protocol error: unbalanced quotes in request"
        );
    }

    #[test]
    fn redis_protocol_errors() {
        assert_eq!(
            parse_all(b"*1\r\n:1\r\n").unwrap_err().0,
            "Protocol error: expected '$', got ':'"
        );
        assert_eq!(
            parse_all(b"*2\r\n$3\r\nGET\r\n$99999999999\r\n")
                .unwrap_err()
                .0,
            "Protocol error: invalid bulk length"
        );
        assert_eq!(
            parse_all(b"*x\r\n").unwrap_err().0,
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            parse_all(b"*99999999\r\n").unwrap_err().0,
            "Protocol error: invalid multibulk length"
        );
        let small = RequestLimits { max_bulk_len: 4 };
        let mut buf = BytesMut::from(&b"*1\r\n$5\r\nhello\r\n"[..]);
        assert_eq!(
            parse_request(&mut buf, small).unwrap_err().0,
            "Protocol error: invalid bulk length"
        );
    }

    #[test]
    fn incomplete_requests_wait_for_more() {
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$10\r\nab"[..]);
        assert_eq!(parse_request(&mut buf, LIMITS).unwrap(), None);
        assert!(buf.capacity() >= 31);
        buf.extend_from_slice(b"cdefghij\r\n");
        assert_eq!(parse_request(&mut buf, LIMITS).unwrap().unwrap().len(), 2);
        assert!(buf.is_empty());
    }
}
