//! MIGRATE: moves keys to another server (Redis or RedRock) by sending it
//! RESTORE with each key's DUMP payload, as Redis does.

use super::args::{int, is};
use super::Ctx;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::types::now_ms;
use bytes::Bytes;
use redis_protocol::resp2::types::BytesFrame;
use std::time::Duration;

/// MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH password]
/// [AUTH2 username password] [KEYS key ...]. The keys stay locked from the
/// DUMPs until the source copies are deleted, so no write falls between.
pub fn migrate(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let (mut copy, mut replace) = (false, false);
    let mut auth: Option<Vec<&[u8]>> = None;
    let mut keys = &argv[3..4];
    let mut at = 6;
    while at < argv.len() {
        let word = &argv[at];
        let more = argv.len() - 1 - at;
        if is(word, "copy") {
            copy = true;
        } else if is(word, "replace") {
            replace = true;
        } else if is(word, "auth") && more >= 1 {
            auth = Some(vec![b"AUTH", &argv[at + 1]]);
            at += 1;
        } else if is(word, "auth2") && more >= 2 {
            auth = Some(vec![b"AUTH", &argv[at + 1], &argv[at + 2]]);
            at += 2;
        } else if is(word, "keys") {
            if !argv[3].is_empty() {
                return Err(Error::err(
                    "When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            keys = &argv[at + 1..];
            break;
        } else {
            return Err(Error::Syntax);
        }
        at += 1;
    }
    let timeout = int(&argv[5])?;
    let db_index = int(&argv[4])?;
    if i32::try_from(db_index).is_err() {
        return Err(Error::NotInteger);
    }
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });

    let db = ctx.db();
    let key_refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    db.lock(&key_refs)?;
    let mut found = Vec::new();
    for key in keys {
        if let Some((value, expire_at)) = db.dump(key)? {
            found.push((key, value, expire_at));
        }
    }
    if found.is_empty() {
        return Ok(Reply::status("NOKEY"));
    }
    let now = now_ms();
    // A key that expired since it was read is left out.
    let sending: Vec<(&Bytes, Vec<u8>, Bytes)> = found
        .into_iter()
        .filter(|(_, _, at)| *at == 0 || *at > now)
        .map(|(key, value, at)| {
            let ttl = if at == 0 { 0 } else { (at - now).max(1) };
            (
                key,
                super::dump::payload(&value),
                Bytes::from(ttl.to_string()),
            )
        })
        .collect();

    let addr = format!(
        "{}:{}",
        String::from_utf8_lossy(&argv[1]),
        String::from_utf8_lossy(&argv[2])
    );
    let io_error =
        |what: &str| Error::coded(format!("IOERR error or timeout {what} target instance"));
    let mut target = Client::connect(&addr, None, timeout)
        .map_err(|_| Error::coded("IOERR error or timeout connecting to the client"))?;
    let db_text = db_index.to_string();
    let mut commands: Vec<Vec<&[u8]>> = Vec::new();
    commands.extend(auth.clone());
    commands.push(vec![b"SELECT", db_text.as_bytes()]);
    // As Redis: a cluster node's target may be importing the slot.
    let restore_command: &[u8] = if ctx.server.cluster.is_some() {
        b"RESTORE-ASKING"
    } else {
        b"RESTORE"
    };
    for (key, payload, ttl) in &sending {
        let mut restore: Vec<&[u8]> = vec![restore_command, key, ttl, payload];
        if replace {
            restore.push(b"REPLACE");
        }
        commands.push(restore);
    }
    target
        .send_binary(&commands)
        .map_err(|_| io_error("writing to"))?;
    let mut read = || target.read_reply().map_err(|_| io_error("reading from"));
    let error_text = |frame: &BytesFrame| match frame {
        BytesFrame::Error(e) => Some(e.to_string()),
        _ => None,
    };
    let auth_error = match auth {
        Some(_) => error_text(&read()?),
        None => None,
    };
    let select_error = error_text(&read()?);
    let mut target_error = None;
    let mut socket_error = None;
    let mut moved = Vec::new();
    for (key, _, _) in &sending {
        let reply = match read() {
            Ok(reply) => reply,
            Err(e) => {
                socket_error = Some(e);
                break;
            }
        };
        match auth_error
            .clone()
            .or(select_error.clone())
            .or(error_text(&reply))
        {
            Some(e) => {
                target_error.get_or_insert(e);
            }
            None => moved.push((*key).clone()),
        }
    }
    // What the target restored leaves here, whatever failed after it.
    if !copy && !moved.is_empty() {
        db.delete(&moved)?;
    }
    if let (None, Some(e)) = (&target_error, socket_error) {
        return Err(e);
    }
    match target_error {
        Some(e) => Err(Error::err(format!(
            "Target instance replied with error: {e}"
        ))),
        None => Ok(Reply::ok()),
    }
}
