//! CONFIG subcommands.

use super::Ctx;
use crate::config::{rewrite as rewrite_file, DIRECTIVES};
use crate::error::{Error, Result};
use crate::glob::glob_match;
use crate::protocol::Reply;
use bytes::Bytes;

pub fn get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let config = ctx.server.config.snapshot();
    let is_pattern = |arg: &[u8]| arg.iter().any(|b| b"*?[".contains(b));
    let pairs = DIRECTIVES
        .iter()
        .filter_map(|d| {
            // A name without glob characters comes back as it was typed,
            // as Redis answers.
            let exact = argv[2..]
                .iter()
                .find(|arg| !is_pattern(arg) && arg.eq_ignore_ascii_case(d.name.as_bytes()));
            let matched = exact.is_some()
                || argv[2..]
                    .iter()
                    .any(|pattern| glob_match(pattern, d.name.as_bytes(), true));
            matched.then(|| {
                let name =
                    exact.map_or_else(|| Bytes::from_static(d.name.as_bytes()), Bytes::clone);
                (Reply::Bulk(name), Reply::bulk((d.get)(&config)))
            })
        })
        .collect();
    Ok(Reply::Map(pairs))
}

pub fn set(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    // The table checks the arity (at least one pair); an unpaired name
    // after that is a syntax error, as in Redis.
    if !argv.len().is_multiple_of(2) {
        return Err(Error::Syntax);
    }
    let pairs: Vec<(String, String)> = argv[2..]
        .chunks(2)
        .map(|p| {
            (
                String::from_utf8_lossy(&p[0]).into_owned(),
                String::from_utf8_lossy(&p[1]).into_owned(),
            )
        })
        .collect();
    ctx.server.config.set(&pairs).map_err(Error::coded)?;
    let (level, max_db_size, pubsub_limit, event_flags, busy_threshold) = {
        let config = ctx.server.config.read();
        (
            config.log_level.clone(),
            config.max_db_size,
            config.client_output_buffer_limit.pubsub,
            config.notify_keyspace_events,
            config.busy_reply_threshold,
        )
    };
    crate::logging::set_level(&level);
    ctx.server.storage.health().set_max_db_size(max_db_size);
    ctx.server.pubsub.set_output_limit(pubsub_limit);
    ctx.server.keyspace_events.set_flags(event_flags);
    ctx.server.scripts.running.set_threshold(busy_threshold);
    Ok(Reply::ok())
}

pub fn rewrite(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    let Some(path) = ctx.server.config.file() else {
        return Err(Error::err("The server is running without a config file"));
    };
    rewrite_file(path, &ctx.server.config.snapshot())
        .map_err(|e| Error::err(format!("Rewriting config file: {e}")))?;
    Ok(Reply::ok())
}

pub fn resetstat(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    ctx.server.stats.reset();
    ctx.server.replication.reset_stats();
    let storage = &ctx.server.storage;
    for tally in [
        &storage.expired_keys,
        &storage.keyspace_hits,
        &storage.keyspace_misses,
    ] {
        tally.reset();
    }
    for command in &super::COMMANDS {
        command.stats.reset();
        for sub in command.subcommands {
            sub.stats.reset();
        }
    }
    Ok(Reply::ok())
}

pub fn help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(super::help_reply(
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    ))
}
