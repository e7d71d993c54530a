//! CLIENT subcommands.

use super::args::{int, is, text};
use super::Ctx;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use bytes::Bytes;
use std::sync::Arc;

pub fn id(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.client.handle.id as i64))
}

/// Client names are one printable word, as in Redis.
pub fn validate_name(name: &[u8]) -> Result<()> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
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
    let mut pubsub = None;
    let mut i = 2;
    while i < argv.len() {
        if is(&argv[i], "type") && i + 1 < argv.len() {
            let kind = &argv[i + 1];
            if !["normal", "master", "replica", "slave", "pubsub"]
                .iter()
                .any(|t| is(kind, t))
            {
                return Err(Error::err(format!("Unknown client type '{}'", text(kind))));
            }
            if is(kind, "normal") || is(kind, "pubsub") {
                pubsub = Some(is(kind, "pubsub"));
            } else {
                // RedRock has no master or replica clients.
                ids = Some(Vec::new());
            }
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
            || pubsub.is_some_and(|pubsub| client.pubsub.subscribed() != pubsub)
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
    /// TYPE: `Some(pubsub)` for the normal or pubsub type, `None` for a
    /// type RedRock has no clients of (master, replica).
    Type(Option<bool>),
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
            let kind = if is(value, "normal") || is(value, "pubsub") {
                Some(is(value, "pubsub"))
            } else if ["master", "replica", "slave"].iter().any(|t| is(value, t)) {
                None
            } else {
                return Err(Error::err(format!("Unknown client type '{}'", text(value))));
            };
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
                Filter::Type(kind) => *kind == Some(c.pubsub.subscribed()),
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

pub fn unblock(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    use crate::server::Unblock;
    let how =
        match argv.get(3) {
            _ if argv.len() > 4 => return Err(Error::err(
                "unknown subcommand or wrong number of arguments for 'unblock'. Try CLIENT HELP.",
            )),
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
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
        ],
    ))
}
