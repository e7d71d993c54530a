//! FUNCTION and FCALL.
//!
//! Libraries live in the server-wide registry and, as FUNCTION DUMP's
//! payload, in the storage's server state, so they survive restarts and
//! are part of BGSAVE's checkpoint. Each change is written before the
//! registry takes it.

use super::scripting::{flush_mode_ok, kill, run, split_keys, Invocation, Target};
use super::Ctx;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::scripting::functions::{self, Libraries};
use crate::scripting::{engine, RunKind, Scripts};
use crate::server::Server;
use bytes::Bytes;
use parking_lot::Mutex;

/// The server-state entry holding the libraries.
const STATE_NAME: &str = "functions";

/// Serializes the FUNCTION commands that change the libraries, so each
/// writes what the one before it left.
static CHANGES: Mutex<()> = Mutex::new(());

/// Loads the saved libraries at startup.
pub fn restore_saved(server: &Server) -> std::result::Result<(), String> {
    let Some(payload) = server
        .storage
        .server_state(STATE_NAME)
        .map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    let libraries = parse_payload(&server.scripts, &payload, Libraries::new(), Policy::Append)
        .map_err(|e| format!("the saved functions do not load: {e}"))?;
    server.scripts.functions.set(libraries);
    Ok(())
}

/// Writes `libraries` to the storage, then makes them the registry's.
fn save(ctx: &Ctx<'_>, libraries: Libraries) -> Result<()> {
    let payload = functions::dump(&libraries);
    ctx.server
        .storage
        .set_server_state(STATE_NAME, &payload)
        .map_err(|e| Error::err(e.to_string()))?;
    ctx.server.scripts.functions.set(libraries);
    Ok(())
}

/// A copy of the libraries to change.
fn current(ctx: &Ctx<'_>) -> Libraries {
    (*ctx.server.scripts.functions.libraries()).clone()
}

pub fn fcall(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let name = String::from_utf8_lossy(&argv[1]);
    let Some((_, function)) = ctx.server.scripts.functions.function(&name) else {
        return Err(Error::err("Function not found"));
    };
    let (keys, args) = split_keys(argv, 2, "Bad number of keys provided")?;
    run(
        ctx,
        argv,
        Invocation {
            target: Target::Function(function.name),
            flags: function.flags,
            read_only_command: argv[0].eq_ignore_ascii_case(b"fcall_ro"),
            keys,
            args,
        },
    )
}

pub fn load(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let (code, options) = argv[2..].split_last().expect("arity checked");
    let mut replace = false;
    for option in options {
        if super::args::is(option, "replace") {
            replace = true;
        } else {
            return Err(Error::err(format!(
                "Unknown option given: {}",
                String::from_utf8_lossy(option)
            )));
        }
    }
    let library = engine::load_library(&ctx.server.scripts, code).map_err(Error::err)?;
    let name = library.name.clone();
    let _change = CHANGES.lock();
    let mut libraries = current(ctx);
    functions::add(&mut libraries, library, replace).map_err(Error::coded)?;
    save(ctx, libraries)?;
    Ok(Reply::Bulk(Bytes::from(name)))
}

pub fn delete(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let name = String::from_utf8_lossy(&argv[2]);
    let _change = CHANGES.lock();
    let mut libraries = current(ctx);
    if libraries.remove(name.as_ref()).is_none() {
        return Err(Error::err("Library not found"));
    }
    save(ctx, libraries)?;
    Ok(Reply::ok())
}

pub fn flush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    if argv.len() > 3 {
        return Err(Error::err(
            "unknown subcommand or wrong number of arguments for 'flush'. Try FUNCTION HELP.",
        ));
    }
    if !flush_mode_ok(argv) {
        return Err(Error::err("FUNCTION FLUSH only supports SYNC|ASYNC option"));
    }
    let _change = CHANGES.lock();
    save(ctx, Libraries::new())?;
    Ok(Reply::ok())
}

pub fn list(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let mut with_code = false;
    let mut pattern: Option<&Bytes> = None;
    let mut i = 2;
    while i < argv.len() {
        let arg = &argv[i];
        if super::args::is(arg, "withcode") && !with_code {
            with_code = true;
        } else if super::args::is(arg, "libraryname") && pattern.is_none() {
            i += 1;
            pattern = Some(
                argv.get(i)
                    .ok_or_else(|| Error::err("library name argument was not given"))?,
            );
        } else {
            return Err(Error::err(format!(
                "Unknown argument {}",
                String::from_utf8_lossy(arg)
            )));
        }
        i += 1;
    }
    let libraries = ctx.server.scripts.functions.libraries();
    let mut out = Vec::new();
    for library in libraries.values() {
        if let Some(pattern) = pattern {
            if !crate::glob::glob_match(pattern, library.name.as_bytes(), true) {
                continue;
            }
        }
        let functions = library
            .functions
            .iter()
            .map(|f| {
                Reply::Map(vec![
                    (
                        Reply::bulk("name"),
                        Reply::Bulk(Bytes::from(f.name.clone())),
                    ),
                    (
                        Reply::bulk("description"),
                        f.description
                            .as_ref()
                            .map_or(Reply::Nil, |d| Reply::Bulk(Bytes::from(d.clone()))),
                    ),
                    (
                        Reply::bulk("flags"),
                        Reply::Set(
                            f.flags
                                .names()
                                .into_iter()
                                .map(|name| Reply::Status(Bytes::from_static(name.as_bytes())))
                                .collect(),
                        ),
                    ),
                ])
            })
            .collect();
        let mut fields = vec![
            (
                Reply::bulk("library_name"),
                Reply::Bulk(Bytes::from(library.name.clone())),
            ),
            (Reply::bulk("engine"), Reply::bulk("LUA")),
            (Reply::bulk("functions"), Reply::Array(functions)),
        ];
        if with_code {
            fields.push((
                Reply::bulk("library_code"),
                Reply::Bulk(library.code.clone()),
            ));
        }
        out.push(Reply::Map(fields));
    }
    Ok(Reply::Array(out))
}

pub fn stats(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    let scripts = &ctx.server.scripts;
    let running = match scripts.running.oldest_function() {
        Some(script) => Reply::Map(vec![
            (
                Reply::bulk("name"),
                Reply::Bulk(Bytes::from(script.name.clone())),
            ),
            (
                Reply::bulk("command"),
                Reply::Array(script.command.iter().cloned().map(Reply::Bulk).collect()),
            ),
            (
                Reply::bulk("duration_ms"),
                Reply::Integer(script.started.elapsed().as_millis() as i64),
            ),
        ]),
        None => Reply::Nil,
    };
    let libraries = scripts.functions.libraries();
    let function_count: usize = libraries.values().map(|l| l.functions.len()).sum();
    Ok(Reply::Map(vec![
        (Reply::bulk("running_script"), running),
        (
            Reply::bulk("engines"),
            Reply::Map(vec![(
                Reply::bulk("LUA"),
                Reply::Map(vec![
                    (
                        Reply::bulk("libraries_count"),
                        Reply::Integer(libraries.len() as i64),
                    ),
                    (
                        Reply::bulk("functions_count"),
                        Reply::Integer(function_count as i64),
                    ),
                ]),
            )]),
        ),
    ]))
}

pub fn dump(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    let libraries = ctx.server.scripts.functions.libraries();
    Ok(Reply::Bulk(Bytes::from(functions::dump(&libraries))))
}

/// How FUNCTION RESTORE treats the libraries already loaded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Policy {
    Flush,
    Append,
    Replace,
}

pub fn restore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    if argv.len() > 4 {
        return Err(Error::err(
            "unknown subcommand or wrong number of arguments for 'restore'. Try FUNCTION HELP.",
        ));
    }
    let policy = match argv.get(3) {
        None => Policy::Append,
        Some(p) if super::args::is(p, "flush") => Policy::Flush,
        Some(p) if super::args::is(p, "append") => Policy::Append,
        Some(p) if super::args::is(p, "replace") => Policy::Replace,
        Some(_) => {
            return Err(Error::err(
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ))
        }
    };
    let _change = CHANGES.lock();
    let existing = match policy {
        Policy::Flush => Libraries::new(),
        _ => current(ctx),
    };
    let libraries =
        parse_payload(&ctx.server.scripts, &argv[2], existing, policy).map_err(Error::coded)?;
    save(ctx, libraries)?;
    Ok(Reply::ok())
}

/// The libraries of a dump added to `existing` by `policy`; the error is
/// the reply text.
fn parse_payload(
    scripts: &Scripts,
    payload: &[u8],
    existing: Libraries,
    policy: Policy,
) -> std::result::Result<Libraries, String> {
    let mut restored = Vec::new();
    for code in functions::parse_dump(payload)? {
        let library = engine::load_library(scripts, &code).map_err(|e| format!("ERR {e}"))?;
        restored.push(library);
    }
    let mut libraries = existing;
    if policy == Policy::Replace {
        for library in &restored {
            libraries.remove(&library.name);
        }
    }
    for library in restored {
        if policy == Policy::Append && libraries.contains_key(&library.name) {
            return Err(format!("ERR Library {} already exists", library.name));
        }
        functions::add(&mut libraries, library, false)?;
    }
    Ok(libraries)
}

pub fn kill_function(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    kill(ctx, RunKind::Function)
}

pub fn help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(super::help_reply(
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    ))
}
