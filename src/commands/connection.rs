//! Connection commands: PING, ECHO, QUIT, HELLO, AUTH, SELECT, RESET,
//! MONITOR.

use super::args::{int, is, text};
use super::Ctx;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use bytes::Bytes;

pub use crate::REDIS_VERSION;

pub fn ping(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    if argv.len() <= 2 && ctx.client.protocol == 2 && ctx.client.pubsub.subscribed() {
        // A RESP2 subscriber reads every reply as a message: Redis answers
        // in that shape.
        let payload = argv.get(1).cloned().unwrap_or_default();
        return Ok(Reply::Array(vec![
            Reply::bulk("pong"),
            Reply::Bulk(payload),
        ]));
    }
    match argv.len() {
        1 => Ok(Reply::status("PONG")),
        2 => Ok(Reply::Bulk(argv[1].clone())),
        _ => Err(Error::err("wrong number of arguments for 'ping' command")),
    }
}

pub fn echo(_ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Bulk(argv[1].clone()))
}

pub fn quit(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    ctx.client.close_after_reply = true;
    Ok(Reply::ok())
}

/// Checks a username/password pair against `requirepass` (the password of
/// the `default` user).
fn check_password(ctx: &Ctx<'_>, user: &[u8], password: &[u8]) -> Result<()> {
    let required = ctx.server.config.read().requirepass.clone();
    let valid = user == b"default"
        && (required.is_empty() || constant_time_eq(password, required.as_bytes()));
    if valid {
        Ok(())
    } else {
        Err(Error::coded(
            "WRONGPASS invalid username-password pair or user is disabled.",
        ))
    }
}

/// Compares a password with the one required in time that depends on
/// their lengths only, not on where they first differ, so the time of a
/// reply does not reveal the password a byte at a time.
fn constant_time_eq(given: &[u8], required: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != required.len());
    for i in 0..given.len().max(required.len()) {
        let a = given.get(i).copied().unwrap_or(0);
        let b = required.get(i).copied().unwrap_or(0);
        diff |= std::hint::black_box(a ^ b);
    }
    diff == 0
}

pub fn auth(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    match argv.len() {
        2 => {
            if ctx.server.config.read().requirepass.is_empty() {
                return Err(Error::err(
                    "AUTH <password> called without any password configured for the default user. \
                     Are you sure your configuration is correct?",
                ));
            }
            check_password(ctx, b"default", &argv[1])?;
        }
        3 => check_password(ctx, &argv[1], &argv[2])?,
        _ => return Err(Error::Syntax),
    }
    ctx.client.authenticated = true;
    Ok(Reply::ok())
}

pub fn hello(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let mut protocol = ctx.client.protocol;
    if argv.len() >= 2 {
        let version = int(&argv[1])
            .map_err(|_| Error::err("Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&version) {
            return Err(Error::coded("NOPROTO unsupported protocol version"));
        }
        protocol = version as u8;
    }
    let mut name = None;
    let mut credentials = None;
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        if is(&argv[i], "auth") && more >= 2 {
            credentials = Some((&argv[i + 1], &argv[i + 2]));
            i += 3;
        } else if is(&argv[i], "setname") && more >= 1 {
            name = Some(&argv[i + 1]);
            i += 2;
        } else {
            return Err(Error::err(format!(
                "Syntax error in HELLO option '{}'",
                text(&argv[i])
            )));
        }
    }
    if let Some((user, password)) = credentials {
        check_password(ctx, user, password)?;
        ctx.client.authenticated = true;
    }
    if !ctx.client.authenticated {
        return Err(Error::coded(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and \
             select the RESP protocol version at the same time",
        ));
    }
    if let Some(name) = name {
        super::client::validate_name(name)?;
        ctx.client.handle.set_name(name);
    }
    ctx.client.set_protocol(protocol);
    Ok(Reply::Map(vec![
        (Reply::bulk("server"), Reply::bulk("redis")),
        (Reply::bulk("version"), Reply::bulk(REDIS_VERSION)),
        (Reply::bulk("proto"), Reply::Integer(protocol.into())),
        (
            Reply::bulk("id"),
            Reply::Integer(ctx.client.handle.id as i64),
        ),
        (Reply::bulk("mode"), Reply::bulk(ctx.server.mode())),
        (Reply::bulk("role"), Reply::bulk("master")),
        (Reply::bulk("modules"), Reply::Array(Vec::new())),
    ]))
}

pub fn select(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let index = int(&argv[1])?;
    if ctx.server.cluster.is_some() && index != 0 {
        return Err(Error::err("SELECT is not allowed in cluster mode"));
    }
    let db = usize::try_from(index)
        .ok()
        .and_then(|i| ctx.server.databases.get(i))
        .cloned()
        .ok_or_else(|| Error::err("DB index is out of range"))?;
    ctx.client.select(db);
    Ok(Reply::ok())
}

/// RESET: the connection's state as a new connection has it (see
/// `ClientState::reset`).
pub fn reset(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    ctx.client.reset(ctx.server);
    Ok(Reply::status("RESET"))
}

/// MONITOR: from now on the connection receives a line for every command
/// the server runs (see `server::monitor`).
pub fn monitor(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    if ctx.in_transaction() || ctx.in_script() {
        return Err(Error::err("MONITOR isn't allowed for DENY BLOCKING client"));
    }
    if ctx.client.monitor.is_some() {
        // Redis answers nothing to a second MONITOR.
        return Ok(Reply::Several(Vec::new()));
    }
    ctx.client.monitor = Some(ctx.server.monitors.attach());
    ctx.client
        .handle
        .monitor
        .store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(Reply::ok())
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn passwords_compare_whole() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"s3cret", b"s3cre"));
        assert!(!constant_time_eq(b"s3cre", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret\0", b"s3cret"));
        assert!(!constant_time_eq(b"x3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3creT", b"s3cret"));
        assert!(!constant_time_eq(b"", b"s3cret"));
    }
}
