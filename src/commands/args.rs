//! Argument parsing shared by the command modules, with Redis's errors.

use crate::error::{Error, Result};
use crate::types::string::parse_i64;
use bytes::Bytes;

/// A cursor over a command's arguments, for option parsing.
pub struct Args<'a> {
    argv: &'a [Bytes],
    pos: usize,
}

impl<'a> Args<'a> {
    /// Starts after the first `skip` arguments.
    pub fn new(argv: &'a [Bytes], skip: usize) -> Args<'a> {
        Args { argv, pos: skip }
    }

    /// The next argument, or a syntax error.
    pub fn value(&mut self) -> Result<&'a Bytes> {
        self.next().ok_or(Error::Syntax)
    }

    /// Whether every argument has been read.
    pub fn done(&self) -> bool {
        self.pos >= self.argv.len()
    }
}

impl<'a> Iterator for Args<'a> {
    type Item = &'a Bytes;

    fn next(&mut self) -> Option<&'a Bytes> {
        let arg = self.argv.get(self.pos)?;
        self.pos += 1;
        Some(arg)
    }
}

/// Whether `arg` is `word`, ignoring ASCII case.
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// An integer argument ("value is not an integer or out of range").
pub fn int(arg: &[u8]) -> Result<i64> {
    parse_i64(arg).ok_or(Error::NotInteger)
}

/// An argument as text for error messages.
pub fn text(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}
