//! SORT and SORT_RO.

use super::args::is;
use super::Ctx;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::types::sort::{SortOptions, Sorted};
use crate::types::string::parse_i64;
use bytes::Bytes;

/// Parses SORT's options as Redis does, in one pass (STORE only when
/// `may_store`).
fn options(ctx: &Ctx<'_>, argv: &[Bytes], may_store: bool) -> Result<SortOptions> {
    let cluster = ctx.server.cluster.is_some();
    let mut options = SortOptions::default();
    let mut at = 2;
    while at < argv.len() {
        let word = &argv[at];
        let left = argv.len() - at - 1;
        if is(word, "asc") {
            options.desc = false;
        } else if is(word, "desc") {
            options.desc = true;
        } else if is(word, "alpha") {
            options.alpha = true;
        } else if is(word, "limit") && left >= 2 {
            let offset = parse_i64(&argv[at + 1]).ok_or(Error::NotInteger)?;
            let count = parse_i64(&argv[at + 2]).ok_or(Error::NotInteger)?;
            options.limit = Some((offset, count));
            at += 2;
        } else if may_store && is(word, "store") && left >= 1 {
            options.store = Some(argv[at + 1].clone());
            at += 1;
        } else if is(word, "by") && left >= 1 {
            let pattern = &argv[at + 1];
            // A pattern names keys of any slot: refused in a cluster.
            if cluster && pattern.contains(&b'*') {
                return Err(Error::err("BY option of SORT denied in Cluster mode."));
            }
            options.by = Some(pattern.clone());
            at += 1;
        } else if is(word, "get") && left >= 1 {
            if cluster {
                return Err(Error::err("GET option of SORT denied in Cluster mode."));
            }
            options.gets.push(argv[at + 1].clone());
            at += 1;
        } else {
            return Err(Error::Syntax);
        }
        at += 1;
    }
    Ok(options)
}

fn run(ctx: &mut Ctx<'_>, argv: &[Bytes], may_store: bool) -> Result<Reply> {
    let options = options(ctx, argv, may_store)?;
    let in_script = ctx.in_script();
    Ok(match ctx.db().sort(&argv[1], &options, in_script)? {
        Sorted::Items(items) => Reply::Array(
            items
                .into_iter()
                .map(|item| item.map_or(Reply::Nil, Reply::Bulk))
                .collect(),
        ),
        Sorted::Stored(len) => Reply::Integer(len as i64),
    })
}

pub fn sort(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    run(ctx, argv, true)
}

pub fn sort_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    run(ctx, argv, false)
}
