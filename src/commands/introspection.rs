//! COMMAND and its subcommands: the command table as clients see it.

use super::args::{is, text};
use super::flags;
use super::table::{lookup, CommandSpec, KeySpec, COMMANDS};
use super::Ctx;
use crate::error::{Error, Result};
use crate::glob::glob_match;
use crate::protocol::Reply;
use bytes::Bytes;

/// Redis's ACL categories, in the order COMMAND INFO lists them.
const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// The ACL categories of a command, derived from its flags and group as
/// Redis derives them (a group such as `server` that is no category adds
/// none).
fn categories(spec: &CommandSpec) -> Vec<String> {
    let has = |category: &str| match category {
        // Redis leaves scripting commands out of @read.
        "read" => spec.flags & flags::READONLY != 0 && spec.group != "scripting",
        "write" => spec.flags & flags::WRITE != 0,
        "admin" => spec.flags & flags::ADMIN != 0,
        "fast" => spec.flags & flags::FAST != 0,
        "slow" => spec.flags & flags::FAST == 0,
        "blocking" => spec.flags & flags::BLOCKING != 0,
        "dangerous" => spec.flags & (flags::ADMIN | flags::DANGEROUS) != 0,
        group => spec.group == group,
    };
    CATEGORIES
        .iter()
        .filter(|category| has(category))
        .map(|category| format!("@{category}"))
        .collect()
}

fn info_entry(spec: &CommandSpec) -> Reply {
    let mut flag_names: Vec<Reply> = flags::NAMES
        .iter()
        .filter(|(bit, _)| spec.flags & bit != 0)
        .map(|(_, name)| Reply::status(name))
        .collect();
    if matches!(
        spec.keys,
        KeySpec::NumKeys { .. }
            | KeySpec::Sort
            | KeySpec::Migrate
            | KeySpec::GeoRadius { .. }
            | KeySpec::Streams
    ) {
        flag_names.push(Reply::status("movablekeys"));
    }
    let (first, last, step) = match spec.keys {
        // The legacy triple names only the fixed keys (ZUNIONSTORE's dst).
        KeySpec::NumKeys {
            fixed: &[first, ..],
            ..
        } => (first as i32, first as i32, 1),
        KeySpec::Sort | KeySpec::GeoRadius { .. } => (1, 1, 1),
        KeySpec::Migrate => (3, 3, 1),
        KeySpec::None | KeySpec::NumKeys { .. } | KeySpec::Streams => (0, 0, 0),
        KeySpec::Range { first, last, step } => (first, last, step),
    };
    Reply::Array(vec![
        Reply::bulk(spec.full_name),
        Reply::Integer(spec.arity.into()),
        Reply::Set(flag_names),
        Reply::Integer(first.into()),
        Reply::Integer(last.into()),
        Reply::Integer(step.into()),
        Reply::Set(
            categories(spec)
                .into_iter()
                .map(|c| Reply::Status(Bytes::from(c)))
                .collect(),
        ),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(spec.subcommands.iter().map(info_entry).collect()),
    ])
}

/// COMMAND with no subcommand: every command's info.
pub fn all(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Array(COMMANDS.iter().map(info_entry).collect()))
}

pub fn count(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(COMMANDS.len() as i64))
}

/// The spec a name refers to: `get` or `config|get`.
fn find(name: &[u8]) -> Option<&'static CommandSpec> {
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    match name.split_once('|') {
        Some((parent, sub)) => lookup(parent.as_bytes())?
            .subcommands
            .iter()
            .find(|s| s.name == sub),
        None => lookup(name.as_bytes()),
    }
}

pub fn info(_ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    if argv.len() == 2 {
        return Ok(Reply::Array(COMMANDS.iter().map(info_entry).collect()));
    }
    Ok(Reply::Array(
        argv[2..]
            .iter()
            .map(|name| find(name).map_or(Reply::Nil, info_entry))
            .collect(),
    ))
}

pub fn list(_ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let filter: Box<dyn Fn(&CommandSpec) -> bool> = match argv.len() {
        2 => Box::new(|_| true),
        5 if is(&argv[2], "filterby") => {
            let value = argv[4].clone();
            if is(&argv[3], "module") {
                Box::new(|_| false)
            } else if is(&argv[3], "aclcat") {
                let wanted = format!("@{}", text(&value).to_ascii_lowercase());
                Box::new(move |spec| categories(spec).contains(&wanted))
            } else if is(&argv[3], "pattern") {
                Box::new(move |spec| glob_match(&value, spec.name.as_bytes(), true))
            } else {
                return Err(Error::Syntax);
            }
        }
        _ => return Err(Error::Syntax),
    };
    Ok(Reply::Array(
        COMMANDS
            .iter()
            .filter(|spec| filter(spec))
            .map(|spec| Reply::bulk(spec.name))
            .collect(),
    ))
}

pub fn getkeys(_ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let args = &argv[2..];
    let mut spec = lookup(&args[0]).ok_or_else(|| Error::err("Invalid command specified"))?;
    if !spec.subcommands.is_empty() && args.len() >= 2 {
        spec = spec
            .subcommands
            .iter()
            .find(|s| is(&args[1], s.name))
            .ok_or_else(|| Error::err("Invalid command specified"))?;
    }
    if !spec.arity_ok(args.len()) {
        return Err(Error::err(
            "Invalid number of arguments specified for command",
        ));
    }
    let positions = spec.key_positions(args);
    if positions.is_empty() {
        return Err(Error::err("The command has no key arguments"));
    }
    Ok(Reply::Array(
        positions
            .into_iter()
            .map(|i| Reply::Bulk(args[i].clone()))
            .collect(),
    ))
}

/// COMMAND DOCS: RedRock carries no command documentation, so each
/// command's docs are an empty map (clients fall back to their own help).
pub fn docs(_ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let names: Vec<&'static str> = if argv.len() == 2 {
        COMMANDS.iter().map(|c| c.name).collect()
    } else {
        argv[2..]
            .iter()
            .filter_map(|n| find(n).map(|s| s.full_name))
            .collect()
    };
    Ok(Reply::Map(
        names
            .into_iter()
            .map(|n| (Reply::bulk(n), Reply::Map(Vec::new())))
            .collect(),
    ))
}

pub fn help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(super::help_reply(
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all commands.",
            "COUNT",
            "    Return the total number of commands in this server.",
            "LIST",
            "    Return a list of all commands in this server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple commands.",
            "GETKEYS <full-command>",
            "    Return the keys from a full command.",
        ],
    ))
}
