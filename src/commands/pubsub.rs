//! Pub/Sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH,
//! PUBSUB, and CLUSTERX PUBLISH (a message forwarded by another node).

use super::args::text;
use super::{CommandSpec, Ctx};
use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::server::pubsub::Kind;
use crate::server::ClientState;
use bytes::Bytes;

/// What a RESP2 client may run while it has subscriptions.
const ALLOWED_WHEN_SUBSCRIBED: &[&str] = &[
    "ping",
    "subscribe",
    "ssubscribe",
    "unsubscribe",
    "sunsubscribe",
    "psubscribe",
    "punsubscribe",
    "quit",
    "reset",
];

/// Redis's refusal of a command a RESP2 client in subscribed mode may not
/// run (RESP3 clients may run anything: their messages are pushes).
pub fn refused_when_subscribed(client: &ClientState, spec: &CommandSpec) -> Option<Error> {
    if client.protocol != 2
        || !client.pubsub.subscribed()
        || ALLOWED_WHEN_SUBSCRIBED.contains(&spec.full_name)
    {
        return None;
    }
    Some(Error::err(format!(
        "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are \
         allowed in this context",
        spec.full_name
    )))
}

/// One confirmation: `[word, name or nil, count]`.
fn confirmation(word: &'static str, name: Reply, count: usize) -> Reply {
    Reply::Push(vec![
        Reply::Bulk(Bytes::from_static(word.as_bytes())),
        name,
        Reply::Integer(count as i64),
    ])
}

fn subscribe_to(ctx: &mut Ctx<'_>, argv: &[Bytes], kind: Kind) -> Result<Reply> {
    let subscriptions = &mut ctx.client.pubsub;
    let replies = argv[1..]
        .iter()
        .map(|name| {
            subscriptions.subscribe(kind, name);
            confirmation(
                kind.subscribe_word(),
                Reply::Bulk(name.clone()),
                subscriptions.confirmation_count(kind),
            )
        })
        .collect();
    Ok(Reply::Several(replies))
}

/// Unsubscribes from the names given, or from every subscription of the
/// kind without any: one confirmation each, or one with a nil name when
/// there was none.
fn unsubscribe_from(ctx: &mut Ctx<'_>, argv: &[Bytes], kind: Kind) -> Result<Reply> {
    let subscriptions = &mut ctx.client.pubsub;
    let names = match argv.len() {
        1 => subscriptions.list(kind),
        _ => argv[1..].to_vec(),
    };
    if names.is_empty() {
        let count = subscriptions.confirmation_count(kind);
        return Ok(Reply::Several(vec![confirmation(
            kind.unsubscribe_word(),
            Reply::Nil,
            count,
        )]));
    }
    let replies = names
        .into_iter()
        .map(|name| {
            subscriptions.unsubscribe(kind, &name);
            let count = subscriptions.confirmation_count(kind);
            confirmation(kind.unsubscribe_word(), Reply::Bulk(name), count)
        })
        .collect();
    Ok(Reply::Several(replies))
}

pub fn subscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    subscribe_to(ctx, argv, Kind::Channel)
}

pub fn psubscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    subscribe_to(ctx, argv, Kind::Pattern)
}

pub fn ssubscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    subscribe_to(ctx, argv, Kind::ShardChannel)
}

pub fn unsubscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    unsubscribe_from(ctx, argv, Kind::Channel)
}

pub fn punsubscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    unsubscribe_from(ctx, argv, Kind::Pattern)
}

pub fn sunsubscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    unsubscribe_from(ctx, argv, Kind::ShardChannel)
}

/// The reply of a command that published: a client subscribed to what it
/// published gets those messages before the count, as in Redis.
fn after_publishing(ctx: &mut Ctx<'_>, receivers: usize) -> Reply {
    let mut replies: Vec<Reply> = std::iter::from_fn(|| ctx.client.pubsub.take_message())
        .map(|message| message.to_reply())
        .collect();
    let count = Reply::Integer(receivers as i64);
    if replies.is_empty() {
        return count;
    }
    replies.push(count);
    Reply::Several(replies)
}

/// PUBLISH: delivered here and, in cluster mode, forwarded to every other
/// node; the count is of this node's receivers, as in Redis Cluster.
pub fn publish(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    if let Some(deferred) = &mut ctx.client.script_publishes {
        deferred.push((false, argv[1].clone(), argv[2].clone()));
        return Ok(Reply::Integer(ctx.server.pubsub.receivers(&argv[1]) as i64));
    }
    let receivers = send(ctx.server, false, &argv[1], &argv[2]);
    Ok(after_publishing(ctx, receivers))
}

/// SPUBLISH: the shard channel's subscribers on this node (the key routing
/// brought the command to the slot's node).
pub fn spublish(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    if let Some(deferred) = &mut ctx.client.script_publishes {
        deferred.push((true, argv[1].clone(), argv[2].clone()));
        return Ok(Reply::Integer(
            ctx.server.pubsub.shard_receivers(&argv[1]) as i64
        ));
    }
    let receivers = send(ctx.server, true, &argv[1], &argv[2]);
    Ok(after_publishing(ctx, receivers))
}

/// Publishes a message (to a shard channel or a channel, which in cluster
/// mode goes to every node too): the receivers here.
pub fn send(
    server: &std::sync::Arc<crate::server::Server>,
    shard: bool,
    channel: &[u8],
    message: &[u8],
) -> usize {
    if shard {
        return server.pubsub.publish_shard(channel, message);
    }
    let receivers = server.pubsub.publish(channel, message);
    if let Some(forwarder) = &server.publish_forwarder {
        forwarder.forward(server, channel, message);
    }
    receivers
}

/// CLUSTERX PUBLISH channel message: a PUBLISH forwarded by another node,
/// delivered here only.
pub fn x_publish(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    if ctx.server.cluster.is_none() {
        return Err(Error::err("This instance has cluster support disabled"));
    }
    let receivers = ctx.server.pubsub.publish(&argv[2], &argv[3]);
    Ok(after_publishing(ctx, receivers))
}

/// Redis's error for a PUBSUB subcommand given too many arguments.
fn wrong_arguments(argv: &[Bytes]) -> Error {
    Error::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
        text(&argv[1])
    ))
}

fn active(ctx: &Ctx<'_>, argv: &[Bytes], kind: Kind) -> Result<Reply> {
    if argv.len() > 3 {
        return Err(wrong_arguments(argv));
    }
    let pattern = argv.get(2).map(|p| &p[..]);
    Ok(Reply::bulks(ctx.server.pubsub.active(kind, pattern)))
}

fn subscriber_counts(ctx: &Ctx<'_>, argv: &[Bytes], kind: Kind) -> Reply {
    let pubsub = &ctx.server.pubsub;
    Reply::Array(
        argv[2..]
            .iter()
            .flat_map(|name| {
                let count = pubsub.subscriber_count(kind, name) as i64;
                [Reply::Bulk(name.clone()), Reply::Integer(count)]
            })
            .collect(),
    )
}

pub fn channels(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    active(ctx, argv, Kind::Channel)
}

pub fn shardchannels(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    active(ctx, argv, Kind::ShardChannel)
}

pub fn numsub(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(subscriber_counts(ctx, argv, Kind::Channel))
}

pub fn shardnumsub(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(subscriber_counts(ctx, argv, Kind::ShardChannel))
}

pub fn numpat(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(
        ctx.server.pubsub.active_count(Kind::Pattern) as i64,
    ))
}

pub fn help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(super::help_reply(
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    ))
}
