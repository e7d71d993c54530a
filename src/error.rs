//! The errors a command can reply with, each with Redis's exact text.

use crate::storage::StorageError;
use std::borrow::Cow;
use std::fmt;

/// A command failure; `Display` is the error reply's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    WrongType,
    NotInteger,
    NotFloat,
    Overflow,
    NanOrInfinity,
    Syntax,
    NoSuchKey,
    /// An error reply with its full text (code included).
    Reply(Cow<'static, str>),
}

impl Error {
    /// An `ERR`-coded error with the given message.
    pub fn err(message: impl Into<Cow<'static, str>>) -> Error {
        let message = message.into();
        Error::Reply(format!("ERR {message}").into())
    }

    /// An error with its own code (`NOAUTH ...`, `WRONGPASS ...`).
    pub fn coded(text: impl Into<Cow<'static, str>>) -> Error {
        Error::Reply(text.into())
    }

    /// The reply text.
    pub fn text(&self) -> Cow<'static, str> {
        match self {
            Error::WrongType => {
                "WRONGTYPE Operation against a key holding the wrong kind of value".into()
            }
            Error::NotInteger => "ERR value is not an integer or out of range".into(),
            Error::NotFloat => "ERR value is not a valid float".into(),
            Error::Overflow => "ERR increment or decrement would overflow".into(),
            Error::NanOrInfinity => "ERR increment would produce NaN or Infinity".into(),
            Error::Syntax => "ERR syntax error".into(),
            Error::NoSuchKey => "ERR no such key".into(),
            Error::Reply(text) => text.clone(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl From<StorageError> for Error {
    fn from(e: StorageError) -> Self {
        Error::err(format!("storage error: {e}"))
    }
}

impl From<redrock_encoding::DecodeError> for Error {
    fn from(e: redrock_encoding::DecodeError) -> Self {
        Error::err(format!("corrupted value: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, Error>;
