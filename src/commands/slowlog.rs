//! SLOWLOG GET, LEN, RESET and HELP.

use super::args::int;
use super::Ctx;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use bytes::Bytes;

pub fn get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let count = match argv.len() {
        2 => 10,
        3 => {
            let n = int(&argv[2])
                .ok()
                .filter(|&n| n >= -1)
                .ok_or_else(|| Error::err("count should be greater than or equal to -1"))?;
            if n == -1 {
                usize::MAX
            } else {
                n as usize
            }
        }
        _ => {
            return Err(Error::err(
                "unknown subcommand or wrong number of arguments for 'get'. Try SLOWLOG HELP.",
            ))
        }
    };
    Ok(Reply::Array(ctx.server.slowlog.newest(count, |entry| {
        Reply::Array(vec![
            Reply::Integer(entry.id as i64),
            Reply::Integer(entry.time as i64),
            Reply::Integer(entry.micros as i64),
            Reply::bulks(entry.args.iter().cloned()),
            Reply::bulk(&entry.client_addr),
            Reply::Bulk(entry.client_name.clone()),
        ])
    })))
}

pub fn len(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.server.slowlog.len() as i64))
}

pub fn reset(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    ctx.server.slowlog.reset();
    Ok(Reply::ok())
}

pub fn help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(super::help_reply(
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    ))
}
