//! Server commands: INFO, DBSIZE, FLUSHDB, FLUSHALL, TIME, SHUTDOWN.

use super::args::is;
use super::Ctx;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use bytes::Bytes;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn dbsize(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.db().size() as i64))
}

/// Checks FLUSHDB / FLUSHALL's optional ASYNC or SYNC.
fn flush_mode(argv: &[Bytes]) -> Result<()> {
    match argv.len() {
        1 => Ok(()),
        2 if is(&argv[1], "async") || is(&argv[1], "sync") => Ok(()),
        _ => Err(Error::Syntax),
    }
}

pub fn flushdb(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    flush_mode(argv)?;
    ctx.db().flush()?;
    Ok(Reply::ok())
}

pub fn flushall(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    flush_mode(argv)?;
    ctx.db().flush_all()?;
    Ok(Reply::ok())
}

/// COMPACT (as in Kvrocks): compacts every column family now, which also
/// drops the members of deleted collections.
pub fn compact(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    ctx.server.storage.compact_all();
    Ok(Reply::ok())
}

pub fn time(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Reply::Array(vec![
        Reply::Bulk(Bytes::from(now.as_secs().to_string())),
        Reply::Bulk(Bytes::from(now.subsec_micros().to_string())),
    ]))
}

pub fn shutdown(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let mut abort = false;
    for arg in &argv[1..] {
        if is(arg, "abort") {
            abort = true;
        } else if !["nosave", "save", "now", "force"]
            .iter()
            .any(|w| is(arg, w))
        {
            return Err(Error::Syntax);
        }
    }
    if abort {
        if argv.len() > 2 {
            return Err(Error::Syntax);
        }
        return Err(Error::err("No shutdown in progress."));
    }
    tracing::info!("SHUTDOWN requested by client {}", ctx.client.handle.id);
    ctx.server.begin_shutdown();
    // As in Redis, the client gets no reply: its connection closes.
    ctx.client.close_silently = true;
    Ok(Reply::ok())
}

pub fn bgsave(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    // SCHEDULE only matters to Redis while an AOF rewrite runs, which
    // RedRock never has: it starts the backup like a plain BGSAVE.
    match argv.get(1) {
        Some(word) if !is(word, "schedule") || argv.len() > 2 => return Err(Error::Syntax),
        _ => {}
    }
    if !crate::server::backup::start(ctx.server) {
        return Err(Error::err("Background save already in progress"));
    }
    Ok(Reply::status("Background saving started"))
}

/// SAVE: the backup BGSAVE makes, written before the reply (a checkpoint,
/// so other connections are served meanwhile).
pub fn save(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    match crate::server::backup::save(ctx.server) {
        None => Err(Error::err("Background save already in progress")),
        Some(true) => Ok(Reply::ok()),
        // Redis's bare error; the log says why.
        Some(false) => Err(Error::coded("ERR")),
    }
}

pub fn lastsave(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.server.backups.last_save() as i64))
}
