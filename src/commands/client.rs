//! CLIENT subcommands.

use super::args::{int, is, text};
use super::Ctx;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::server::pause::PauseMode;
use crate::server::{ClientKind, LibraryAttribute};
use bytes::Bytes;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn id(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.client.handle.id as i64))
}

/// Whether a client attribute (name, library) is one printable word, as
/// Redis requires so that CLIENT LIST splits on spaces.
fn is_printable_word(value: &[u8]) -> bool {
    value.iter().all(|c| (b'!'..=b'~').contains(c))
}

/// Client names are one printable word, as in Redis.
pub fn validate_name(name: &[u8]) -> Result<()> {
    if !is_printable_word(name) {
        return Err(Error::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

pub fn setname(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    validate_name(&argv[2])?;
    ctx.client.handle.set_name(&argv[2]);
    Ok(Reply::ok())
}

pub fn getname(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    let name = ctx.client.handle.name();
    Ok(if name.is_empty() {
        Reply::Nil
    } else {
        Reply::Bulk(name)
    })
}

pub fn list(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let mut ids: Option<Vec<u64>> = None;
    let mut kind = None;
    let mut i = 2;
    while i < argv.len() {
        if is(&argv[i], "type") && i + 1 < argv.len() {
            kind = Some(ClientKind::parse(&argv[i + 1]).ok_or_else(|| {
                Error::err(format!("Unknown client type '{}'", text(&argv[i + 1])))
            })?);
            i += 2;
        } else if is(&argv[i], "id") && i + 1 < argv.len() {
            let mut wanted = Vec::new();
            for arg in &argv[i + 1..] {
                let n = int(arg).map_err(|_| Error::err("Invalid client ID"))?;
                wanted.push(u64::try_from(n).map_err(|_| Error::err("Invalid client ID"))?);
            }
            ids = Some(wanted);
            i = argv.len();
        } else {
            return Err(Error::Syntax);
        }
    }
    let mut out = String::new();
    for client in ctx.server.clients.all() {
        if ids.as_ref().is_some_and(|ids| !ids.contains(&client.id))
            || kind.is_some_and(|kind| client.kind() != kind)
        {
            continue;
        }
        out.push_str(&client.describe());
        out.push('\n');
    }
    Ok(Reply::Verbatim(Bytes::from(out)))
}

pub fn info(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Verbatim(Bytes::from(format!(
        "{}\n",
        ctx.client.handle.describe()
    ))))
}

/// One CLIENT KILL filter.
enum Filter {
    Id(u64),
    Addr(Bytes),
    LocalAddr(Bytes),
    Type(ClientKind),
    User(Bytes),
    MaxAge(u64),
}

pub fn kill(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    if argv.len() == 3 {
        // The old form: CLIENT KILL addr:port.
        let target = ctx
            .server
            .clients
            .all()
            .into_iter()
            .find(|c| c.addr.to_string().as_bytes() == &argv[2][..])
            .ok_or_else(|| Error::err("No such client"))?;
        target.kill();
        return Ok(Reply::ok());
    }
    let mut filters = Vec::new();
    let mut skip_me = true;
    for pair in argv[2..].chunks(2) {
        let [name, value] = pair else {
            return Err(Error::Syntax);
        };
        if is(name, "id") {
            let n = int(value).map_err(|_| Error::err("client-id should be greater than 0"))?;
            if n <= 0 {
                return Err(Error::err("client-id should be greater than 0"));
            }
            filters.push(Filter::Id(n as u64));
        } else if is(name, "addr") {
            filters.push(Filter::Addr(value.clone()));
        } else if is(name, "laddr") {
            filters.push(Filter::LocalAddr(value.clone()));
        } else if is(name, "type") {
            let kind = ClientKind::parse(value)
                .ok_or_else(|| Error::err(format!("Unknown client type '{}'", text(value))))?;
            filters.push(Filter::Type(kind));
        } else if is(name, "user") {
            filters.push(Filter::User(value.clone()));
        } else if is(name, "skipme") {
            skip_me = if is(value, "yes") {
                true
            } else if is(value, "no") {
                false
            } else {
                return Err(Error::Syntax);
            };
        } else if is(name, "maxage") {
            let n = int(value)?;
            filters.push(Filter::MaxAge(n.max(0) as u64));
        } else {
            return Err(Error::Syntax);
        }
    }
    let me = ctx.client.handle.id;
    let victims: Vec<Arc<super::super::server::ClientHandle>> = ctx
        .server
        .clients
        .all()
        .into_iter()
        .filter(|c| !(skip_me && c.id == me))
        .filter(|c| {
            filters.iter().all(|f| match f {
                Filter::Id(id) => c.id == *id,
                Filter::Addr(a) => c.addr.to_string().as_bytes() == &a[..],
                Filter::LocalAddr(a) => c.local_addr.to_string().as_bytes() == &a[..],
                Filter::Type(kind) => c.kind() == *kind,
                Filter::User(u) => &u[..] == b"default",
                Filter::MaxAge(age) => c.created.elapsed().as_secs() >= *age,
            })
        })
        .collect();
    for victim in &victims {
        victim.kill();
    }
    Ok(Reply::Integer(victims.len() as i64))
}

/// Redis's reply to a subcommand given too many arguments for its form.
fn wrong_form(argv: &[Bytes]) -> Error {
    Error::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
        text(&argv[1])
    ))
}

/// An ON|OFF argument.
fn on_off(arg: &[u8]) -> Result<bool> {
    if is(arg, "on") {
        Ok(true)
    } else if is(arg, "off") {
        Ok(false)
    } else {
        Err(Error::Syntax)
    }
}

pub fn unblock(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    use crate::server::Unblock;
    let how = match argv.get(3) {
        _ if argv.len() > 4 => return Err(wrong_form(argv)),
        None => Unblock::Timeout,
        Some(w) if is(w, "timeout") => Unblock::Timeout,
        Some(w) if is(w, "error") => Unblock::Error,
        Some(_) => {
            return Err(Error::err(
                "CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ))
        }
    };
    let id = int(&argv[2])?;
    let unblocked = u64::try_from(id)
        .ok()
        .and_then(|id| ctx.server.clients.get(id))
        .is_some_and(|client| client.unblock(how));
    Ok(Reply::Integer(unblocked.into()))
}

/// CLIENT SETINFO LIB-NAME|LIB-VER value: shown in CLIENT LIST; an empty
/// value clears it.
pub fn setinfo(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let attribute = if is(&argv[2], "lib-name") {
        LibraryAttribute::Name
    } else if is(&argv[2], "lib-ver") {
        LibraryAttribute::Version
    } else {
        return Err(Error::err(format!(
            "Unrecognized option '{}'",
            text(&argv[2])
        )));
    };
    if !is_printable_word(&argv[3]) {
        return Err(Error::err(format!(
            "{} cannot contain spaces, newlines or special characters.",
            text(&argv[2])
        )));
    }
    ctx.client.handle.set_library(attribute, &argv[3]);
    Ok(Reply::ok())
}

/// CLIENT NO-EVICT ON|OFF. RedRock evicts no clients
/// (`maxmemory-clients`); the flag shows in CLIENT LIST as `e`.
pub fn no_evict(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let on = on_off(&argv[2])?;
    ctx.client.handle.no_evict.store(on, Ordering::Relaxed);
    Ok(Reply::ok())
}

/// CLIENT NO-TOUCH ON|OFF. Keys' access times are not tracked (OBJECT
/// IDLETIME is always 0), so there is nothing for reads to leave alone;
/// the flag shows in CLIENT LIST as `T`.
pub fn no_touch(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let on = on_off(&argv[2])?;
    ctx.client.handle.no_touch.store(on, Ordering::Relaxed);
    Ok(Reply::ok())
}

/// CLIENT REPLY ON|OFF|SKIP. The connection drops the replies (see
/// `server::Replies`): OFF's and SKIP's own replies never go out.
pub fn reply(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let replies = &mut ctx.client.replies;
    if is(&argv[2], "on") {
        replies.on();
    } else if is(&argv[2], "off") {
        replies.off();
    } else if is(&argv[2], "skip") {
        replies.skip();
    } else {
        return Err(Error::Syntax);
    }
    Ok(Reply::ok())
}

/// CLIENT PAUSE timeout [WRITE|ALL]: holds every command (ALL, the
/// default) or those that may write, for `timeout` milliseconds or until
/// CLIENT UNPAUSE. Answers once writes already admitted are written.
pub fn pause(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let mode = match argv.get(3) {
        _ if argv.len() > 4 => return Err(wrong_form(argv)),
        None => PauseMode::All,
        Some(mode) if is(mode, "write") => PauseMode::Write,
        Some(mode) if is(mode, "all") => PauseMode::All,
        Some(_) => return Err(Error::err("CLIENT PAUSE mode must be WRITE or ALL")),
    };
    let millis =
        int(&argv[2]).map_err(|_| Error::err("timeout is not an integer or out of range"))?;
    if millis < 0 {
        return Err(Error::err("timeout is negative"));
    }
    // Redis adds the timeout to the Unix time in milliseconds.
    if millis > i64::MAX - crate::types::now_ms() as i64 {
        return Err(Error::err("timeout is out of range"));
    }
    let now = Instant::now();
    // A deadline past what the clock can hold is as good as never.
    let until = now
        .checked_add(Duration::from_millis(millis as u64))
        .unwrap_or(now + FOREVER);
    // Inside EXEC the transaction's own writes are still pending: the
    // pause does not wait for them, it starts as the transaction ends (as
    // in Redis, where EXEC's commands are not held).
    ctx.client.write_admission = None;
    ctx.server.pause.pause(mode, until);
    Ok(Reply::ok())
}

/// A pause longer than any server runs.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 86_400);

pub fn unpause(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    ctx.server.pause.unpause();
    Ok(Reply::ok())
}

pub fn help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(super::help_reply(
        "CLIENT",
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are: ID, ADDR, LADDR, TYPE, USER, SKIPME, MAXAGE.",
            "LIST [options ...]",
            "    Return information about client connections. Options: TYPE, ID.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.",
            "    * LIB-VER: the client lib version.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
        ],
    ))
}
