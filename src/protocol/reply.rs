//! Reply values and their RESP2/RESP3 encoding.
//!
//! Commands build a [`Reply`] without knowing the protocol version; the
//! connection encodes it with the version the client chose with HELLO. Maps,
//! sets, doubles and booleans therefore degrade to RESP2 shapes the way Redis
//! degrades them.

use bytes::{Bytes, BytesMut};
use redis_protocol::resp2::types::BytesFrame as Frame2;
use redis_protocol::resp3::types::BytesFrame as Frame3;
use std::borrow::Cow;

/// A reply to one command.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// A simple string, e.g. `+OK`.
    Status(Bytes),
    /// An error; the text starts with its code (`ERR`, `WRONGTYPE`, ...).
    Error(Cow<'static, str>),
    Integer(i64),
    Bulk(Bytes),
    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    Nil,
    /// A missing aggregate: `*-1` in RESP2, `_` in RESP3.
    NilArray,
    Array(Vec<Reply>),
    /// A map in RESP3, a flat array of keys and values in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// A set in RESP3, an array in RESP2.
    Set(Vec<Reply>),
    /// A double in RESP3, a bulk string of its shortest text in RESP2.
    Double(f64),
    /// A double written with the text given (GEOPOS's coordinates, which
    /// Redis prints as `%.17Lf`): `,text` in RESP3, a bulk string in RESP2.
    DoubleText(Bytes),
    /// A boolean in RESP3, the integer 1 or 0 in RESP2.
    Bool(bool),
    /// A verbatim text in RESP3 (`txt`), a bulk string in RESP2.
    Verbatim(Bytes),
    /// A big number in RESP3 (its decimal digits), a bulk string in RESP2;
    /// only scripts return one.
    BigNumber(Bytes),
    /// Out-of-band data (pub/sub messages and confirmations): a push in
    /// RESP3, an array in RESP2.
    Push(Vec<Reply>),
    /// Several replies in a row, for a command that answers more than once
    /// ((P|S)SUBSCRIBE confirms each channel). Meant as the whole reply;
    /// inside an aggregate it is encoded as an array.
    Several(Vec<Reply>),
}

impl Reply {
    /// `+OK`.
    pub fn ok() -> Reply {
        Reply::Status(Bytes::from_static(b"OK"))
    }

    /// A simple string from a static text.
    pub fn status(text: &'static str) -> Reply {
        Reply::Status(Bytes::from_static(text.as_bytes()))
    }

    /// A bulk string copied from a byte slice.
    pub fn bulk(data: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(data.as_ref()))
    }

    /// A bulk string, or nil when absent.
    pub fn optional(value: Option<Bytes>) -> Reply {
        value.map_or(Reply::Nil, Reply::Bulk)
    }

    /// An array of bulk strings.
    pub fn bulks<I, B>(items: I) -> Reply
    where
        I: IntoIterator<Item = B>,
        B: Into<Bytes>,
    {
        Reply::Array(items.into_iter().map(|b| Reply::Bulk(b.into())).collect())
    }

    /// Whether this reply is an error.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}

/// Appends the encoding of `reply` in protocol `version` (2 or 3) to `out`.
pub fn encode_reply(reply: &Reply, version: u8, out: &mut BytesMut) {
    if let Reply::Several(replies) = reply {
        for reply in replies {
            encode_reply(reply, version, out);
        }
    } else if version >= 3 {
        encode_resp3(reply, out);
    } else {
        encode_resp2(reply, out);
    }
}

/// Appends a push of bulk strings (a pub/sub message): what
/// `encode_reply` writes for `Reply::Push` of `Reply::Bulk`s, without
/// building the reply, since a message is encoded once per subscriber.
pub fn encode_push_of_bulks(items: &[&[u8]], version: u8, out: &mut BytesMut) {
    let length = |out: &mut BytesMut, n: usize| {
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    out.reserve(16 + items.iter().map(|item| item.len() + 16).sum::<usize>());
    out.extend_from_slice(if version >= 3 { b">" } else { b"*" });
    length(out, items.len());
    for item in items {
        out.extend_from_slice(b"$");
        length(out, item.len());
        out.extend_from_slice(item);
        out.extend_from_slice(b"\r\n");
    }
}

/// RESP3 aggregates and doubles are written here (the crate would write a
/// large double digit by digit where Redis writes `1e+300`); the other
/// scalars are encoded by the redis-protocol crate.
fn encode_resp3(reply: &Reply, out: &mut BytesMut) {
    let (kind, items): (&[u8], Vec<&Reply>) = match reply {
        Reply::Array(items) | Reply::Several(items) => (b"*", items.iter().collect()),
        Reply::Set(items) => (b"~", items.iter().collect()),
        Reply::Push(items) => (b">", items.iter().collect()),
        Reply::Map(pairs) => (b"%", pairs.iter().flat_map(|(k, v)| [k, v]).collect()),
        Reply::Double(d) => {
            out.extend_from_slice(b",");
            out.extend_from_slice(format_double(*d).as_bytes());
            out.extend_from_slice(b"\r\n");
            return;
        }
        Reply::DoubleText(text) => {
            out.extend_from_slice(b",");
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
            return;
        }
        scalar => {
            redis_protocol::resp3::encode::complete::extend_encode(out, &to_resp3(scalar), false)
                .expect("a reply frame always encodes");
            return;
        }
    };
    let count = if kind == b"%" {
        items.len() / 2
    } else {
        items.len()
    };
    out.extend_from_slice(kind);
    out.extend_from_slice(itoa::Buffer::new().format(count).as_bytes());
    out.extend_from_slice(b"\r\n");
    for item in items {
        encode_resp3(item, out);
    }
}

/// RESP2 aggregates are written here so that a null array (`*-1`, which the
/// frame type cannot express) may appear at any depth; scalars are encoded
/// by the redis-protocol crate.
fn encode_resp2(reply: &Reply, out: &mut BytesMut) {
    let items: Vec<&Reply> = match reply {
        Reply::NilArray => {
            out.extend_from_slice(b"*-1\r\n");
            return;
        }
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) | Reply::Several(items) => {
            items.iter().collect()
        }
        Reply::Map(pairs) => pairs.iter().flat_map(|(k, v)| [k, v]).collect(),
        scalar => {
            redis_protocol::resp2::encode::extend_encode(out, &to_resp2(scalar), false)
                .expect("a reply frame always encodes");
            return;
        }
    };
    out.extend_from_slice(b"*");
    out.extend_from_slice(itoa::Buffer::new().format(items.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for item in items {
        encode_resp2(item, out);
    }
}

/// Formats a double the way Redis 7.2 does in replies: `inf`, `-inf`, or the
/// shortest text that reads back as the same value.
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(d);
    // ryu writes "1.0" and "1e20"; Redis writes "1" and "1e+20".
    let text = text.strip_suffix(".0").unwrap_or(text);
    match text.find('e') {
        Some(pos) if !text[pos + 1..].starts_with('-') => {
            format!("{}e+{}", &text[..pos], &text[pos + 1..])
        }
        _ => text.to_owned(),
    }
}

fn error_text(text: &str) -> redis_protocol::bytes_utils::Str {
    // Error texts travel on one line: Redis replaces newlines with spaces.
    if text.contains(['\r', '\n']) {
        text.replace(['\r', '\n'], " ").into()
    } else {
        text.to_owned().into()
    }
}

/// The RESP2 frame of a scalar reply.
fn to_resp2(reply: &Reply) -> Frame2 {
    match reply {
        Reply::Status(s) => Frame2::SimpleString(s.clone()),
        Reply::Error(e) => Frame2::Error(error_text(e)),
        Reply::Integer(i) => Frame2::Integer(*i),
        Reply::Bulk(b) | Reply::Verbatim(b) | Reply::BigNumber(b) | Reply::DoubleText(b) => {
            Frame2::BulkString(b.clone())
        }
        Reply::Double(d) => Frame2::BulkString(Bytes::from(format_double(*d))),
        Reply::Nil => Frame2::Null,
        Reply::Bool(b) => Frame2::Integer(i64::from(*b)),
        Reply::NilArray
        | Reply::Array(_)
        | Reply::Set(_)
        | Reply::Map(_)
        | Reply::Push(_)
        | Reply::Several(_) => {
            unreachable!("aggregates are written by encode_resp2")
        }
    }
}

/// The RESP3 frame of a scalar reply other than a double.
fn to_resp3(reply: &Reply) -> Frame3 {
    match reply {
        Reply::Status(s) => Frame3::SimpleString {
            data: s.clone(),
            attributes: None,
        },
        Reply::Error(e) => Frame3::SimpleError {
            data: error_text(e),
            attributes: None,
        },
        Reply::Integer(i) => Frame3::Number {
            data: *i,
            attributes: None,
        },
        Reply::Bulk(b) => Frame3::BlobString {
            data: b.clone(),
            attributes: None,
        },
        Reply::Nil | Reply::NilArray => Frame3::Null,
        Reply::Double(_)
        | Reply::DoubleText(_)
        | Reply::Array(_)
        | Reply::Several(_)
        | Reply::Push(_)
        | Reply::Set(_)
        | Reply::Map(_) => unreachable!("written by encode_resp3"),
        Reply::Bool(b) => Frame3::Boolean {
            data: *b,
            attributes: None,
        },
        Reply::BigNumber(digits) => Frame3::BigNumber {
            data: digits.clone(),
            attributes: None,
        },
        Reply::Verbatim(text) => Frame3::VerbatimString {
            data: text.clone(),
            format: redis_protocol::resp3::types::VerbatimStringFormat::Text,
            attributes: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(reply: &Reply, version: u8) -> String {
        let mut out = BytesMut::new();
        encode_reply(reply, version, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn resp2_shapes() {
        assert_eq!(
            encode(&Reply::Array(vec![Reply::NilArray, Reply::Nil]), 2),
            "*2\r\n*-1\r\n$-1\r\n"
        );
        assert_eq!(encode(&Reply::ok(), 2), "+OK\r\n");
        assert_eq!(encode(&Reply::Nil, 2), "$-1\r\n");
        assert_eq!(encode(&Reply::NilArray, 2), "*-1\r\n");
        assert_eq!(encode(&Reply::Integer(-3), 2), ":-3\r\n");
        assert_eq!(encode(&Reply::Bool(true), 2), ":1\r\n");
        assert_eq!(
            encode(&Reply::Map(vec![(Reply::bulk("a"), Reply::Integer(1))]), 2),
            "*2\r\n$1\r\na\r\n:1\r\n"
        );
        assert_eq!(
            encode(&Reply::Error("ERR bad\r\nthing".into()), 2),
            "-ERR bad  thing\r\n"
        );
    }

    #[test]
    fn resp3_shapes() {
        assert_eq!(encode(&Reply::Nil, 3), "_\r\n");
        assert_eq!(encode(&Reply::NilArray, 3), "_\r\n");
        assert_eq!(encode(&Reply::Bool(false), 3), "#f\r\n");
        assert_eq!(
            encode(
                &Reply::Map(vec![
                    (Reply::bulk("b"), Reply::Integer(1)),
                    (Reply::bulk("a"), Reply::Integer(2))
                ]),
                3
            ),
            "%2\r\n$1\r\nb\r\n:1\r\n$1\r\na\r\n:2\r\n"
        );
        assert_eq!(
            encode(&Reply::Verbatim(Bytes::from_static(b"hi")), 3),
            "=6\r\ntxt:hi\r\n"
        );
        let coordinate = Reply::DoubleText(Bytes::from_static(b"13.36138933897018433"));
        assert_eq!(encode(&coordinate, 3), ",13.36138933897018433\r\n");
        assert_eq!(encode(&coordinate, 2), "$20\r\n13.36138933897018433\r\n");
    }

    #[test]
    fn pushes_and_several_replies() {
        let push = Reply::Push(vec![
            Reply::bulk("unsubscribe"),
            Reply::Nil,
            Reply::Integer(0),
        ]);
        assert_eq!(
            encode(&push, 2),
            "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"
        );
        assert_eq!(encode(&push, 3), ">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n");
        let several = Reply::Several(vec![push.clone(), Reply::Integer(1)]);
        assert_eq!(
            encode(&several, 3),
            ">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n:1\r\n"
        );
        assert_eq!(encode(&Reply::Several(Vec::new()), 2), "");
        for version in [2, 3] {
            let items: [&[u8]; 4] = [b"pmessage", b"p*", b"", b"\r\n\0"];
            let mut direct = BytesMut::new();
            encode_push_of_bulks(&items, version, &mut direct);
            let reply = Reply::Push(items.iter().map(Reply::bulk).collect());
            assert_eq!(
                String::from_utf8(direct.to_vec()).unwrap(),
                encode(&reply, version)
            );
        }
        // Nested, it cannot be several replies: an array.
        let nested = Reply::Array(vec![Reply::Several(vec![Reply::Integer(1)])]);
        assert_eq!(encode(&nested, 2), "*1\r\n*1\r\n:1\r\n");
        assert_eq!(encode(&nested, 3), "*1\r\n*1\r\n:1\r\n");
    }
}
