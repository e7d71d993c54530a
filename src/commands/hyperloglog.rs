//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE.

use super::Ctx;
use crate::error::Result;
use crate::protocol::Reply;
use bytes::Bytes;

/// `hll-sparse-max-bytes`, read when a command may grow a HyperLogLog.
fn sparse_max_bytes(ctx: &Ctx<'_>) -> usize {
    let max = ctx.server.config.read().hll_sparse_max_bytes;
    usize::try_from(max).unwrap_or(usize::MAX)
}

pub fn pfadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let max = sparse_max_bytes(ctx);
    let changed = ctx.db().pfadd(&argv[1], &argv[2..], max)?;
    Ok(Reply::Integer(i64::from(changed)))
}

pub fn pfcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.db().pfcount(&argv[1..])?))
}

pub fn pfmerge(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let max = sparse_max_bytes(ctx);
    ctx.db().pfmerge(&argv[1], &argv[2..], max)?;
    Ok(Reply::ok())
}
