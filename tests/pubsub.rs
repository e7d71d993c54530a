//! Pub/Sub: the exact bytes of confirmations and messages in RESP2 and
//! RESP3, subscribed mode, counts, introspection, ordering under load,
//! cleanup when clients go, slow subscribers cut off, the `redis` crate's
//! async PubSub, a differential run against a real redis-server, redis-py,
//! and PUBLISH across a cluster.

mod common;
use common::*;
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// A RESP2 array (`proto` 2) or RESP3 push (3) of bulk strings.
fn push(proto: u8, parts: &[&str]) -> Vec<u8> {
    let mut out = format!("{}{}\r\n", if proto == 3 { '>' } else { '*' }, parts.len());
    for part in parts {
        out.push_str(&format!("${}\r\n{part}\r\n", part.len()));
    }
    out.into_bytes()
}

/// A (un)subscribe confirmation: `[word, name or nil, count]`.
fn confirm(proto: u8, word: &str, name: Option<&str>, count: i64) -> Vec<u8> {
    let head = if proto == 3 { '>' } else { '*' };
    let name = match (name, proto) {
        (Some(n), _) => format!("${}\r\n{n}\r\n", n.len()),
        (None, 3) => "_\r\n".to_string(),
        (None, _) => "$-1\r\n".to_string(),
    };
    format!("{head}3\r\n${}\r\n{word}\r\n{name}:{count}\r\n", word.len()).into_bytes()
}

fn hello3(raw: &mut RawClient) {
    let reply = raw.command(&["HELLO", "3"]);
    assert_eq!(reply.first(), Some(&b'%'), "{}", show(&reply));
}

/// Reads `n` replies.
fn replies(raw: &mut RawClient, n: usize) -> Vec<u8> {
    (0..n).flat_map(|_| raw.read_reply()).collect()
}

/// Polls `probe` until it holds, at most 30 s.
fn eventually(what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !probe() {
        assert!(Instant::now() < deadline, "{what} within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn int_of(reply: &[u8]) -> i64 {
    std::str::from_utf8(reply)
        .ok()
        .and_then(|s| s.strip_prefix(':'))
        .and_then(|s| s.trim_end().parse().ok())
        .unwrap_or_else(|| panic!("not an integer: {}", show(reply)))
}

fn info_field(raw: &mut RawClient, name: &str) -> String {
    let info = String::from_utf8(raw.command(&["INFO", "stats"])).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("{name} not in INFO"))
        .trim()
        .to_string()
}

#[test]
fn resp2_confirmations_and_messages_are_redis_bytes() {
    let server = Server::start();
    let mut sub = server.raw();
    let mut publisher = server.raw();
    // Nothing to unsubscribe from: one confirmation with a nil name.
    for word in ["unsubscribe", "punsubscribe", "sunsubscribe"] {
        assert_eq!(sub.command(&[word]), confirm(2, word, None, 0));
    }
    sub.send(&RawClient::encode(&["SUBSCRIBE", "a", "b", "a"]));
    assert_eq!(
        replies(&mut sub, 3),
        [
            confirm(2, "subscribe", Some("a"), 1),
            confirm(2, "subscribe", Some("b"), 2),
            confirm(2, "subscribe", Some("a"), 2),
        ]
        .concat()
    );
    sub.send(&RawClient::encode(&["PSUBSCRIBE", "a*", "z?"]));
    assert_eq!(
        replies(&mut sub, 2),
        [
            confirm(2, "psubscribe", Some("a*"), 3),
            confirm(2, "psubscribe", Some("z?"), 4),
        ]
        .concat()
    );
    // Shard channels count apart.
    sub.send(&RawClient::encode(&["SSUBSCRIBE", "s1", "s2"]));
    assert_eq!(
        replies(&mut sub, 2),
        [
            confirm(2, "ssubscribe", Some("s1"), 1),
            confirm(2, "ssubscribe", Some("s2"), 2),
        ]
        .concat()
    );
    // A channel and a pattern both matching: two receivers, two messages,
    // the channel's first.
    assert_eq!(publisher.command(&["PUBLISH", "a", "hello"]), b":2\r\n");
    assert_eq!(sub.read_reply(), push(2, &["message", "a", "hello"]));
    assert_eq!(sub.read_reply(), push(2, &["pmessage", "a*", "a", "hello"]));
    assert_eq!(publisher.command(&["PUBLISH", "zz", ""]), b":1\r\n");
    assert_eq!(sub.read_reply(), push(2, &["pmessage", "z?", "zz", ""]));
    assert_eq!(publisher.command(&["PUBLISH", "s1", "x"]), b":0\r\n");
    assert_eq!(publisher.command(&["SPUBLISH", "s1", "x"]), b":1\r\n");
    assert_eq!(sub.read_reply(), push(2, &["smessage", "s1", "x"]));
    assert_eq!(publisher.command(&["SPUBLISH", "a", "x"]), b":0\r\n");
    // Binary-safe names and payloads.
    let payload = "\r\n\0\u{ff}".repeat(1000);
    assert_eq!(publisher.command(&["PUBLISH", "b", &payload]), b":1\r\n");
    assert_eq!(sub.read_reply(), push(2, &["message", "b", &payload]));
    // Unsubscribing from what was never subscribed still confirms.
    sub.send(&RawClient::encode(&["UNSUBSCRIBE", "b", "never"]));
    assert_eq!(
        replies(&mut sub, 2),
        [
            confirm(2, "unsubscribe", Some("b"), 3),
            confirm(2, "unsubscribe", Some("never"), 3),
        ]
        .concat()
    );
    // Without arguments: every subscription of the kind, in name order.
    sub.send(&RawClient::encode(&["PUNSUBSCRIBE"]));
    assert_eq!(
        replies(&mut sub, 2),
        [
            confirm(2, "punsubscribe", Some("a*"), 2),
            confirm(2, "punsubscribe", Some("z?"), 1),
        ]
        .concat()
    );
    assert_eq!(
        sub.command(&["PUNSUBSCRIBE"]),
        confirm(2, "punsubscribe", None, 1)
    );
    assert_eq!(
        sub.command(&["UNSUBSCRIBE"]),
        confirm(2, "unsubscribe", Some("a"), 0)
    );
    // Still in subscribed mode through the shard channels.
    assert_eq!(sub.command(&["PING"]), push(2, &["pong", ""]));
    sub.send(&RawClient::encode(&["SUNSUBSCRIBE"]));
    assert_eq!(
        replies(&mut sub, 2),
        [
            confirm(2, "sunsubscribe", Some("s1"), 1),
            confirm(2, "sunsubscribe", Some("s2"), 0),
        ]
        .concat()
    );
    // Out of subscribed mode: an ordinary client again.
    assert_eq!(sub.command(&["PING"]), b"+PONG\r\n");
    assert_eq!(sub.command(&["GET", "nothing"]), b"$-1\r\n");
    assert_eq!(publisher.command(&["PUBLISH", "a", "x"]), b":0\r\n");
}

#[test]
fn resp3_pushes_interleave_with_replies() {
    let server = Server::start();
    let mut sub = server.raw();
    let mut publisher = server.raw();
    hello3(&mut sub);
    assert_eq!(
        sub.command(&["UNSUBSCRIBE"]),
        confirm(3, "unsubscribe", None, 0)
    );
    assert_eq!(
        sub.command(&["SUBSCRIBE", "news"]),
        confirm(3, "subscribe", Some("news"), 1)
    );
    assert_eq!(
        sub.command(&["PSUBSCRIBE", "n*"]),
        confirm(3, "psubscribe", Some("n*"), 2)
    );
    // Any command runs; its reply is an ordinary reply.
    assert_eq!(sub.command(&["SET", "k", "v"]), b"+OK\r\n");
    assert_eq!(sub.command(&["GET", "k"]), b"$1\r\nv\r\n");
    assert_eq!(sub.command(&["PING"]), b"+PONG\r\n");
    assert_eq!(sub.command(&["PING", "x"]), b"$1\r\nx\r\n");
    // A message published before a command goes out before its reply.
    assert_eq!(publisher.command(&["PUBLISH", "news", "m1"]), b":2\r\n");
    sub.send(&RawClient::encode(&["GET", "k"]));
    assert_eq!(
        replies(&mut sub, 3),
        [
            push(3, &["message", "news", "m1"]),
            push(3, &["pmessage", "n*", "news", "m1"]),
            b"$1\r\nv\r\n".to_vec(),
        ]
        .concat()
    );
    // Publishing to itself: its messages come before the count, as in
    // Redis.
    sub.send(&RawClient::encode(&["PUBLISH", "news", "me"]));
    assert_eq!(
        replies(&mut sub, 3),
        [
            push(3, &["message", "news", "me"]),
            push(3, &["pmessage", "n*", "news", "me"]),
            b":2\r\n".to_vec(),
        ]
        .concat()
    );
    // Messages arrive while the client is idle.
    assert_eq!(publisher.command(&["PUBLISH", "nx", "idle"]), b":1\r\n");
    assert_eq!(sub.read_reply(), push(3, &["pmessage", "n*", "nx", "idle"]));
    assert_eq!(
        replies_of(&mut sub, &["UNSUBSCRIBE", "news", "other"], 2),
        [
            confirm(3, "unsubscribe", Some("news"), 1),
            confirm(3, "unsubscribe", Some("other"), 1),
        ]
        .concat()
    );
    // HELLO 2 while subscribed: back to RESP2's subscribed mode.
    assert_eq!(sub.command(&["HELLO", "2"]).first(), Some(&b'*'));
    assert_eq!(
        error(&mut sub, &["GET", "k"]),
        "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET \
         are allowed in this context"
    );
    assert_eq!(publisher.command(&["PUBLISH", "nx", "two"]), b":1\r\n");
    assert_eq!(sub.read_reply(), push(2, &["pmessage", "n*", "nx", "two"]));
}

#[test]
fn subscribed_resp2_clients_run_only_pubsub_commands() {
    let server = Server::start();
    let mut sub = server.raw();
    assert_eq!(
        sub.command(&["SSUBSCRIBE", "s"]),
        confirm(2, "ssubscribe", Some("s"), 1)
    );
    let refused = |name: &str| {
        format!(
            "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
             RESET are allowed in this context"
        )
    };
    assert_eq!(error(&mut sub, &["GET", "k"]), refused("get"));
    assert_eq!(error(&mut sub, &["CLIENT", "LIST"]), refused("client|list"));
    assert_eq!(error(&mut sub, &["PUBLISH", "s", "x"]), refused("publish"));
    assert_eq!(error(&mut sub, &["HELLO", "3"]), refused("hello"));
    // Unknown commands and wrong arities are found first, as in Redis.
    assert!(error(&mut sub, &["NOSUCH"]).starts_with("ERR unknown command 'NOSUCH'"));
    assert_eq!(
        error(&mut sub, &["GET"]),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        error(&mut sub, &["SUBSCRIBE"]),
        "ERR wrong number of arguments for 'subscribe' command"
    );
    assert_eq!(
        error(&mut sub, &["PING", "a", "b"]),
        "ERR wrong number of arguments for 'ping' command"
    );
    assert_eq!(sub.command(&["PING"]), push(2, &["pong", ""]));
    assert_eq!(sub.command(&["PING", "hi"]), push(2, &["pong", "hi"]));
    // Arity errors of the commands the fuzzer does not send.
    for name in ["PSUBSCRIBE", "SSUBSCRIBE"] {
        assert_eq!(
            error(&mut sub, &[name]),
            format!(
                "ERR wrong number of arguments for '{}' command",
                name.to_lowercase()
            )
        );
    }
    assert_eq!(sub.command(&["QUIT"]), b"+OK\r\n");
    assert!(sub.is_closed());
}

#[test]
fn publish_counts_receivers_and_pubsub_introspects() {
    let server = Server::start();
    let mut a = server.raw();
    let mut b = server.raw();
    let mut c = server.raw();
    let mut admin = server.raw();
    replies_of(&mut a, &["SUBSCRIBE", "news", "sport"], 2);
    replies_of(&mut a, &["PSUBSCRIBE", "n*"], 1);
    replies_of(&mut b, &["SUBSCRIBE", "news"], 1);
    replies_of(&mut b, &["PSUBSCRIBE", "n*", "*"], 2);
    replies_of(&mut c, &["SSUBSCRIBE", "shard", "other"], 2);
    // a: news + n*; b: news + n* + *.
    assert_eq!(int_of(&admin.command(&["PUBLISH", "news", "x"])), 5);
    assert_eq!(int_of(&admin.command(&["PUBLISH", "sport", "x"])), 2);
    assert_eq!(int_of(&admin.command(&["PUBLISH", "nothing", "x"])), 3);
    assert_eq!(int_of(&admin.command(&["PUBLISH", "shard", "x"])), 1);
    assert_eq!(int_of(&admin.command(&["SPUBLISH", "shard", "x"])), 1);
    let mut channels = admin.command(&["PUBSUB", "CHANNELS"]);
    let listed = |reply: &mut Vec<u8>| -> Vec<String> {
        let text = String::from_utf8(std::mem::take(reply)).unwrap();
        let mut names: Vec<String> = text
            .split("\r\n")
            .skip(1)
            .filter(|l| !l.starts_with('$') && !l.is_empty())
            .map(String::from)
            .collect();
        names.sort();
        names
    };
    assert_eq!(listed(&mut channels), ["news", "sport"]);
    assert_eq!(
        admin.command(&["PUBSUB", "CHANNELS", "s*"]),
        b"*1\r\n$5\r\nsport\r\n"
    );
    assert_eq!(admin.command(&["PUBSUB", "CHANNELS", "x*"]), b"*0\r\n");
    assert_eq!(
        listed(&mut admin.command(&["PUBSUB", "SHARDCHANNELS"])),
        ["other", "shard"]
    );
    assert_eq!(
        admin.command(&["PUBSUB", "SHARDCHANNELS", "sh*"]),
        b"*1\r\n$5\r\nshard\r\n"
    );
    assert_eq!(
        admin.command(&["PUBSUB", "NUMSUB", "news", "sport", "none"]),
        b"*6\r\n$4\r\nnews\r\n:2\r\n$5\r\nsport\r\n:1\r\n$4\r\nnone\r\n:0\r\n"
    );
    assert_eq!(admin.command(&["PUBSUB", "NUMSUB"]), b"*0\r\n");
    assert_eq!(
        admin.command(&["PUBSUB", "SHARDNUMSUB", "shard", "news"]),
        b"*4\r\n$5\r\nshard\r\n:1\r\n$4\r\nnews\r\n:0\r\n"
    );
    // Distinct patterns.
    assert_eq!(admin.command(&["PUBSUB", "NUMPAT"]), b":2\r\n");
    assert_eq!(info_field(&mut admin, "pubsub_channels"), "2");
    assert_eq!(info_field(&mut admin, "pubsub_patterns"), "2");
    assert_eq!(info_field(&mut admin, "pubsubshard_channels"), "2");
    // CLIENT LIST: counts, the P flag, and the pubsub type.
    let list = String::from_utf8(admin.command(&["CLIENT", "LIST"])).unwrap();
    let fields: Vec<&str> = list
        .lines()
        .filter(|l| l.contains("flags=P"))
        .map(|l| {
            let at = l.find("sub=").unwrap();
            &l[at..at + "sub=2 psub=1 ssub=0".len()]
        })
        .collect();
    assert_eq!(
        fields,
        [
            "sub=2 psub=1 ssub=0",
            "sub=1 psub=2 ssub=0",
            "sub=0 psub=0 ssub=2"
        ],
        "{list}"
    );
    let pubsub_list =
        String::from_utf8(admin.command(&["CLIENT", "LIST", "TYPE", "pubsub"])).unwrap();
    assert_eq!(pubsub_list.matches("flags=P").count(), 3, "{pubsub_list}");
    let normal_list =
        String::from_utf8(admin.command(&["CLIENT", "LIST", "TYPE", "normal"])).unwrap();
    assert!(normal_list.contains("cmd=client|list") && !normal_list.contains("flags=P"));
    // Errors, as Redis words them.
    assert_eq!(
        error(&mut admin, &["PUBSUB", "channels", "a", "b"]),
        "ERR unknown subcommand or wrong number of arguments for 'channels'. Try PUBSUB HELP."
    );
    assert_eq!(
        error(&mut admin, &["PUBSUB", "SHARDCHANNELS", "a", "b"]),
        "ERR unknown subcommand or wrong number of arguments for 'SHARDCHANNELS'. Try PUBSUB \
         HELP."
    );
    assert_eq!(
        error(&mut admin, &["PUBSUB", "NUMPAT", "x"]),
        "ERR wrong number of arguments for 'pubsub|numpat' command"
    );
    assert_eq!(
        error(&mut admin, &["PUBSUB", "nosuch"]),
        "ERR unknown subcommand 'nosuch'. Try PUBSUB HELP."
    );
    assert_eq!(
        error(&mut admin, &["PUBSUB"]),
        "ERR wrong number of arguments for 'pubsub' command"
    );
    assert_eq!(
        error(&mut admin, &["PUBLISH", "a"]),
        "ERR wrong number of arguments for 'publish' command"
    );
    assert_eq!(
        error(&mut admin, &["CLUSTERX", "PUBLISH", "a", "b"]),
        "ERR This instance has cluster support disabled"
    );
    // CLIENT KILL TYPE pubsub closes the subscribers only.
    assert_eq!(
        admin.command(&["CLIENT", "KILL", "TYPE", "pubsub"]),
        b":3\r\n"
    );
    for client in [&mut a, &mut b, &mut c] {
        read_until_closed_raw(client);
    }
    eventually("the subscriptions to go", || {
        admin.command(&["PUBSUB", "NUMPAT"]) == b":0\r\n"
            && admin.command(&["PUBSUB", "CHANNELS"]) == b"*0\r\n"
            && admin.command(&["PUBSUB", "SHARDCHANNELS"]) == b"*0\r\n"
    });
}

/// Sends a command and reads its `n` replies.
fn replies_of(raw: &mut RawClient, args: &[&str], n: usize) -> Vec<u8> {
    raw.send(&RawClient::encode(args));
    replies(raw, n)
}

/// Reads what the server still sends until it closes the connection
/// (each read waits at most 30 s).
fn read_until_closed_raw(raw: &mut RawClient) {
    while !raw.is_closed() {}
}

#[test]
fn pubsub_commands_carry_redis_flags_key_positions_and_categories() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    let mut ours = redrock.raw();
    let mut theirs = redis.raw();
    for name in [
        "subscribe",
        "unsubscribe",
        "psubscribe",
        "punsubscribe",
        "ssubscribe",
        "sunsubscribe",
        "publish",
        "spublish",
        "pubsub|channels",
        "pubsub|numsub",
        "pubsub|numpat",
        "pubsub|shardchannels",
        "pubsub|shardnumsub",
        "pubsub|help",
    ] {
        // Name, arity, flags, first key, last key, step, ACL categories:
        // the first seven fields, as Redis sends them.
        let fields = |raw: &mut RawClient| -> Vec<u8> {
            let reply = raw.command(&["COMMAND", "INFO", name]);
            let text = String::from_utf8(reply).unwrap();
            let mut lines: Vec<&str> = text.split("\r\n").collect();
            // *1, *10, then the fields; cut before the tips/key specs.
            let end = lines
                .iter()
                .enumerate()
                .skip(3)
                .filter(|(_, l)| l.starts_with('*'))
                .nth(2)
                .map(|(i, _)| i)
                .unwrap_or(lines.len());
            lines.truncate(end);
            lines.join("\r\n").into_bytes()
        };
        assert_eq!(
            show(&fields(&mut ours)),
            show(&fields(&mut theirs)),
            "COMMAND INFO {name}"
        );
    }
}

#[test]
fn one_publisher_ten_thousand_messages_every_subscriber_in_order() {
    const MESSAGES: usize = 10_000;
    let server = Server::start();
    // Raw subscribers in both protocols, by channel and by pattern.
    let mut raw_subscribers = Vec::new();
    for (proto, kind, name) in [
        (2, "SUBSCRIBE", "numbers"),
        (3, "SUBSCRIBE", "numbers"),
        (2, "PSUBSCRIBE", "num*"),
        (3, "PSUBSCRIBE", "n?mbers"),
    ] {
        let mut raw = server.raw();
        if proto == 3 {
            hello3(&mut raw);
        }
        let word = kind.to_lowercase();
        assert_eq!(
            raw.command(&[kind, name]),
            confirm(proto, &word, Some(name), 1)
        );
        raw_subscribers.push((raw, proto, kind == "PSUBSCRIBE", name.to_string()));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let crate_task = runtime.spawn(async move {
        let mut pubsub = client.get_async_pubsub().await.unwrap();
        pubsub.subscribe("numbers").await.unwrap();
        let mut stream = pubsub.on_message();
        let mut got = Vec::with_capacity(MESSAGES);
        while got.len() < MESSAGES {
            let message = tokio::time::timeout(Duration::from_secs(30), stream.next())
                .await
                .expect("a message within 30 s")
                .expect("the stream goes on");
            assert_eq!(message.get_channel_name(), "numbers");
            got.push(message.get_payload::<String>().unwrap());
        }
        got
    });
    // The crate's subscription is confirmed before the first publish.
    let mut admin = server.raw();
    eventually("the crate subscriber", || {
        admin.command(&["PUBSUB", "NUMSUB", "numbers"]) == b"*2\r\n$7\r\nnumbers\r\n:3\r\n"
    });
    // Readers run while the publisher pipelines, so no buffer fills.
    let readers: Vec<_> = raw_subscribers
        .into_iter()
        .map(|(mut raw, proto, pattern, name)| {
            std::thread::spawn(move || {
                for i in 0..MESSAGES {
                    let payload = format!("m{i}");
                    let expected = if pattern {
                        push(proto, &["pmessage", &name, "numbers", &payload])
                    } else {
                        push(proto, &["message", "numbers", &payload])
                    };
                    let got = raw.read_reply();
                    assert!(
                        got == expected,
                        "subscriber {name} (RESP{proto}) message {i}: {}",
                        show(&got)
                    );
                }
            })
        })
        .collect();
    let mut publisher = server.raw();
    for chunk in (0..MESSAGES).collect::<Vec<_>>().chunks(100) {
        let batch: Vec<u8> = chunk
            .iter()
            .flat_map(|i| RawClient::encode(&["PUBLISH", "numbers", &format!("m{i}")]))
            .collect();
        publisher.send(&batch);
        for _ in chunk {
            // 2 channel subscribers + the crate's + 2 patterns.
            assert_eq!(publisher.read_reply(), b":5\r\n");
        }
    }
    for reader in readers {
        reader
            .join()
            .expect("a subscriber saw its messages in order");
    }
    let got = runtime.block_on(crate_task).unwrap();
    let expected: Vec<String> = (0..MESSAGES).map(|i| format!("m{i}")).collect();
    assert!(got == expected, "the redis crate subscriber's messages");
}

#[test]
fn redis_crate_async_pubsub_in_both_protocols() {
    let server = Server::start();
    let url = server.url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut publisher = client.get_multiplexed_async_connection().await.unwrap();
        let mut pubsub = client.get_async_pubsub().await.unwrap();
        pubsub.subscribe("alpha").await.unwrap();
        pubsub.psubscribe("be*").await.unwrap();
        let receivers: i64 = redis::cmd("PUBLISH")
            .arg("alpha")
            .arg("one")
            .query_async(&mut publisher)
            .await
            .unwrap();
        assert_eq!(receivers, 1);
        let receivers: i64 = redis::cmd("PUBLISH")
            .arg("beta")
            .arg("two")
            .query_async(&mut publisher)
            .await
            .unwrap();
        assert_eq!(receivers, 1);
        {
            let mut stream = pubsub.on_message();
            let first = stream.next().await.unwrap();
            assert_eq!(
                (
                    first.get_channel_name(),
                    first.get_payload::<String>().unwrap()
                ),
                ("alpha", "one".to_string())
            );
            assert!(!first.from_pattern());
            let second = stream.next().await.unwrap();
            assert_eq!(second.get_channel_name(), "beta");
            assert_eq!(second.get_pattern::<String>().unwrap(), "be*");
        }
        pubsub.unsubscribe("alpha").await.unwrap();
        pubsub.punsubscribe("be*").await.unwrap();
        let numsub: Vec<redis::Value> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("alpha")
            .query_async(&mut publisher)
            .await
            .unwrap();
        assert_eq!(numsub[1], redis::Value::Int(0));

        // RESP3: subscriptions on an ordinary multiplexed connection, the
        // messages as pushes.
        let client3 = redis::Client::open(format!("{url}?protocol=resp3")).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let config = redis::AsyncConnectionConfig::new().set_push_sender(tx);
        let mut con = client3
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .unwrap();
        con.subscribe("gamma").await.unwrap();
        con.psubscribe("g*").await.unwrap();
        let value: Option<String> = redis::cmd("GET")
            .arg("k")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(value, None);
        let receivers: i64 = redis::cmd("PUBLISH")
            .arg("gamma")
            .arg("three")
            .query_async(&mut publisher)
            .await
            .unwrap();
        assert_eq!(receivers, 2);
        // Messages, past any confirmations the crate forwards too.
        let mut kinds = Vec::new();
        while kinds.len() < 2 {
            let info = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .expect("a push within 30 s")
                .expect("pushes go on");
            if matches!(
                info.kind,
                redis::PushKind::Message | redis::PushKind::PMessage
            ) {
                kinds.push((info.kind, info.data));
            }
        }
        let bulk = |s: &str| redis::Value::BulkString(s.as_bytes().to_vec());
        assert_eq!(
            kinds,
            vec![
                (redis::PushKind::Message, vec![bulk("gamma"), bulk("three")]),
                (
                    redis::PushKind::PMessage,
                    vec![bulk("g*"), bulk("gamma"), bulk("three")]
                ),
            ]
        );
    });
}

#[test]
fn a_blocked_resp3_subscriber_gets_its_messages() {
    let server = Server::start();
    let mut sub = server.raw();
    let mut other = server.raw();
    hello3(&mut sub);
    assert_eq!(
        sub.command(&["SUBSCRIBE", "c"]),
        confirm(3, "subscribe", Some("c"), 1)
    );
    sub.send(&RawClient::encode(&["BLPOP", "list", "0"]));
    eventually("the client to block", || {
        String::from_utf8(other.command(&["CLIENT", "LIST"]))
            .unwrap()
            .contains("flags=Pb")
    });
    assert_eq!(other.command(&["PUBLISH", "c", "while blocked"]), b":1\r\n");
    assert_eq!(
        sub.read_reply(),
        push(3, &["message", "c", "while blocked"])
    );
    assert_eq!(other.command(&["RPUSH", "list", "x"]), b":1\r\n");
    assert_eq!(
        sub.read_reply(),
        b"*2\r\n$4\r\nlist\r\n$1\r\nx\r\n".to_vec()
    );
}

#[test]
fn subscriptions_go_with_their_connection() {
    let server = Server::start();
    let mut admin = server.raw();
    for round in 0..300 {
        let mut sub = server.raw();
        let id = int_of(&sub.command(&["CLIENT", "ID"]));
        replies_of(&mut sub, &["SUBSCRIBE", "c1", &format!("own{round}")], 2);
        replies_of(&mut sub, &["PSUBSCRIBE", "p*", &format!("own{round}*")], 2);
        replies_of(&mut sub, &["SSUBSCRIBE", "s1"], 1);
        match round % 3 {
            // Dropped without a word.
            0 => drop(sub),
            1 => {
                assert_eq!(sub.command(&["QUIT"]), b"+OK\r\n");
            }
            _ => {
                assert_eq!(
                    admin.command(&["CLIENT", "KILL", "ID", &id.to_string()]),
                    b":1\r\n"
                );
                read_until_closed_raw(&mut sub);
            }
        }
    }
    eventually("every subscription to go", || {
        admin.command(&["PUBSUB", "NUMSUB", "c1", "own299"])
            == b"*4\r\n$2\r\nc1\r\n:0\r\n$6\r\nown299\r\n:0\r\n"
            && admin.command(&["PUBSUB", "CHANNELS"]) == b"*0\r\n"
            && admin.command(&["PUBSUB", "NUMPAT"]) == b":0\r\n"
            && admin.command(&["PUBSUB", "SHARDNUMSUB", "s1"]) == b"*2\r\n$2\r\ns1\r\n:0\r\n"
    });
    assert_eq!(info_field(&mut admin, "pubsub_channels"), "0");
    assert_eq!(info_field(&mut admin, "pubsub_patterns"), "0");
    assert_eq!(info_field(&mut admin, "pubsubshard_channels"), "0");
    assert_eq!(admin.command(&["PUBLISH", "c1", "x"]), b":0\r\n");
}

/// Resident memory of a process, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .expect("VmRSS");
    kb * 1024
}

fn log_of(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("redrock.log")).unwrap_or_default()
}

const CUT_OFF_LOG: &str = "scheduled to be closed ASAP for overcoming of output buffer limits.";

#[test]
fn a_subscriber_that_does_not_read_is_cut_off_and_memory_stays_bounded() {
    const MESSAGES: usize = 4096;
    const SIZE: usize = 64 * 1024;
    let logs = tempfile::tempdir().unwrap();
    let server = Server::start_with(&["--log-dir", logs.path().to_str().unwrap()]);
    let mut admin = server.raw();
    assert_eq!(
        admin.command(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 4mb 1mb 60"
        ]),
        b"+OK\r\n"
    );
    // One subscriber never reads; another reads everything.
    let mut slow = server.raw();
    assert_eq!(slow.command(&["CLIENT", "SETNAME", "slow"]), b"+OK\r\n");
    replies_of(&mut slow, &["SUBSCRIBE", "firehose"], 1);
    let mut fast = server.raw();
    replies_of(&mut fast, &["SUBSCRIBE", "firehose"], 1);
    let payload = "p".repeat(SIZE);
    let expected = push(2, &["message", "firehose", &payload]);
    let read = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let reader = std::thread::spawn({
        let read = read.clone();
        move || {
            for i in 0..MESSAGES {
                assert!(
                    fast.read_reply() == expected,
                    "message {i} of the fast reader"
                );
                read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    let baseline = rss(server.child.id());
    let mut peak = baseline;
    let mut counts = Vec::new();
    let mut publisher = server.raw();
    // 256 MB published, 64 times the hard limit; every PUBLISH answers.
    // The reading subscriber is waited for, so only the other one lags.
    for batch in 0..MESSAGES / 16 {
        publisher.send(&RawClient::encode(&["PUBLISH", "firehose", &payload]).repeat(16));
        for _ in 0..16 {
            counts.push(int_of(&publisher.read_reply()));
        }
        eventually("the reading subscriber to keep up", || {
            read.load(std::sync::atomic::Ordering::Relaxed) + 16 >= counts.len()
        });
        if batch % 16 == 0 {
            peak = peak.max(rss(server.child.id()));
        }
    }
    reader
        .join()
        .expect("the reading subscriber got every message");
    assert_eq!(counts[0], 2);
    assert_eq!(*counts.last().unwrap(), 1, "the slow subscriber is gone");
    assert!(
        counts.windows(2).all(|w| w[0] >= w[1]),
        "once cut off, it gets nothing more"
    );
    let growth = peak.saturating_sub(baseline);
    assert!(
        growth < 96 << 20,
        "the server grew by {} MB for a subscriber that does not read",
        growth >> 20
    );
    // What the kernel holds for it, then the close.
    read_until_closed_raw(&mut slow);
    let list = String::from_utf8(admin.command(&["CLIENT", "LIST"])).unwrap();
    assert!(!list.contains("name=slow"), "{list}");
    eventually("the log line", || log_of(logs.path()).contains(CUT_OFF_LOG));
    assert!(log_of(logs.path()).contains("name=slow"));
}

#[test]
fn a_subscriber_over_the_soft_limit_for_its_seconds_is_cut_off() {
    let logs = tempfile::tempdir().unwrap();
    let server = Server::start_with(&[
        "--log-dir",
        logs.path().to_str().unwrap(),
        "--client-output-buffer-limit",
        "pubsub 0 256kb 1",
    ]);
    let mut slow = server.raw();
    replies_of(&mut slow, &["SUBSCRIBE", "c"], 1);
    let mut publisher = server.raw();
    let payload = "p".repeat(1024);
    // No hard limit: only the time above the soft limit cuts it off.
    eventually("the slow subscriber to be cut off", || {
        publisher.send(&RawClient::encode(&["PUBLISH", "c", &payload]).repeat(16));
        let counts: Vec<i64> = (0..16).map(|_| int_of(&publisher.read_reply())).collect();
        std::thread::sleep(Duration::from_millis(5));
        counts.last() == Some(&0)
    });
    read_until_closed_raw(&mut slow);
    eventually("the log line", || log_of(logs.path()).contains(CUT_OFF_LOG));
}

/// Splits a reply line stream into tokens (names in the scripts carry no
/// CRLF).
fn tokens(frame: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(frame)
        .split("\r\n")
        .map(String::from)
        .collect()
}

/// The frames one connection received for one step, with what Redis
/// leaves to hash order put in order: the names that an UNSUBSCRIBE
/// without arguments confirms, and the patterns of one message matched by
/// several.
fn normalize(frames: &mut [Vec<u8>], unsubscribe_all: bool) {
    if unsubscribe_all {
        let positions: Vec<usize> = (0..frames.len())
            .filter(|&i| {
                let t = tokens(&frames[i]);
                t.len() == 7 && t[2].ends_with("unsubscribe")
            })
            .collect();
        let mut names: Vec<(String, String)> = positions
            .iter()
            .map(|&i| {
                let t = tokens(&frames[i]);
                (t[3].clone(), t[4].clone())
            })
            .collect();
        names.sort();
        for (&i, (len, name)) in positions.iter().zip(names) {
            let mut t = tokens(&frames[i]);
            t[3] = len;
            t[4] = name;
            frames[i] = t.join("\r\n").into_bytes();
        }
    }
    let mut i = 0;
    while i < frames.len() {
        let is_pmessage = |f: &Vec<u8>| tokens(f).get(2).is_some_and(|w| w == "pmessage");
        let start = i;
        while i < frames.len() && is_pmessage(&frames[i]) {
            i += 1;
        }
        frames[start..i].sort();
        i = i.max(start + 1);
    }
}

/// Runs `script` on a fresh set of connections to `port`; connection `c`
/// speaks RESP `protocols[c]`. After every step each open connection is
/// sent `PING sync<n>`, and everything it received up to the answer is
/// that step's frames: (step, connection) -> frames.
fn run_script(
    port: u16,
    protocols: &[u8],
    script: &[(usize, &[&str])],
) -> BTreeMap<(usize, usize), Vec<Vec<u8>>> {
    let mut connections: Vec<Option<RawClient>> = protocols
        .iter()
        .map(|&proto| {
            let mut raw = RawClient::connect(port);
            if proto == 3 {
                hello3(&mut raw);
            }
            Some(raw)
        })
        .collect();
    let mut out = BTreeMap::new();
    for (step, (who, args)) in script.iter().enumerate() {
        let raw = connections[*who].as_mut().expect("an open connection");
        raw.send(&RawClient::encode(args));
        if args[0] == "QUIT" {
            let mut frames = vec![raw.read_reply()];
            assert!(raw.is_closed());
            frames.push(b"closed".to_vec());
            out.insert((step, *who), frames);
            connections[*who] = None;
            continue;
        }
        let order = std::iter::once(*who).chain((0..connections.len()).filter(|c| c != who));
        for c in order {
            let Some(raw) = connections[c].as_mut() else {
                continue;
            };
            let token = format!("sync{step}");
            raw.send(&RawClient::encode(&["PING", &token]));
            let mut frames = Vec::new();
            loop {
                let frame = raw.read_reply();
                let text = String::from_utf8_lossy(&frame).into_owned();
                let pong = text.ends_with(&format!("\r\n{token}\r\n"))
                    && (text.starts_with('$') || text.contains("\r\npong\r\n"));
                frames.push(frame);
                if pong {
                    break;
                }
            }
            let unsubscribe_all = c == *who && args.len() == 1 && args[0].ends_with("UNSUBSCRIBE");
            normalize(&mut frames, unsubscribe_all);
            out.insert((step, c), frames);
        }
    }
    out
}

#[test]
fn differential_subscriber_streams_match_redis() {
    // Connections: 0 and 3 subscribe, 1 subscribes and publishes, 2
    // publishes.
    let script: &[(usize, &[&str])] = &[
        (0, &["UNSUBSCRIBE"]),
        (0, &["PUNSUBSCRIBE"]),
        (0, &["SUNSUBSCRIBE"]),
        (0, &["SUBSCRIBE", "a", "b", "a"]),
        (1, &["SUBSCRIBE", "a"]),
        (1, &["PSUBSCRIBE", "a*", "*a"]),
        (3, &["PSUBSCRIBE", "b*", "c?", "[xy]z"]),
        (2, &["PUBLISH", "a", "m1"]),
        (2, &["PUBLISH", "b", "m2"]),
        (2, &["PUBLISH", "c1", "m3"]),
        (2, &["PUBLISH", "xz", ""]),
        (2, &["PUBLISH", "aa", "two patterns"]),
        (2, &["PUBLISH", "nobody", "m4"]),
        (0, &["PING"]),
        (0, &["PING", "hello"]),
        (0, &["GET", "x"]),
        (0, &["SET", "x", "1"]),
        (1, &["SET", "x", "1"]),
        (1, &["GET", "x"]),
        (1, &["PUBLISH", "a", "self"]),
        (1, &["PUBSUB", "NUMSUB", "a", "b", "zz"]),
        (2, &["PUBSUB", "NUMPAT"]),
        (2, &["PUBSUB", "SHARDNUMSUB", "s1"]),
        (0, &["SSUBSCRIBE", "s1", "s2", "s1"]),
        (2, &["SPUBLISH", "s1", "shard"]),
        (2, &["SPUBLISH", "a", "not shard"]),
        (2, &["PUBSUB", "SHARDNUMSUB", "s1", "s2"]),
        (0, &["UNSUBSCRIBE", "b", "never"]),
        (2, &["PUBLISH", "b", "m5"]),
        (0, &["UNSUBSCRIBE"]),
        (0, &["UNSUBSCRIBE"]),
        (0, &["PUNSUBSCRIBE", "x"]),
        (0, &["PING"]),
        (0, &["SUNSUBSCRIBE"]),
        (0, &["PING"]),
        (0, &["GET", "x"]),
        (1, &["PUNSUBSCRIBE"]),
        (1, &["UNSUBSCRIBE", "a"]),
        (1, &["PING"]),
        (3, &["SUBSCRIBE", "bb"]),
        (2, &["PUBLISH", "bb", "m6"]),
        (3, &["PUNSUBSCRIBE"]),
        (3, &["UNSUBSCRIBE", "bb"]),
        (3, &["PUBLISH", "bb", "m7"]),
        (0, &["SUBSCRIBE", "end"]),
        (0, &["QUIT"]),
        (2, &["PUBLISH", "end", "m8"]),
        (2, &["PUBSUB", "NUMSUB", "end"]),
    ];
    let redrock = Server::start();
    let redis = RedisServer::start();
    for protocols in [[2, 3, 2, 2], [3, 2, 3, 3]] {
        let ours = run_script(redrock.port, &protocols, script);
        let theirs = run_script(redis.port, &protocols, script);
        for ((step, connection), expected) in &theirs {
            let got = &ours[&(*step, *connection)];
            assert!(
                got == expected,
                "RESP {protocols:?}, step {step} {:?}, connection {connection}:\n  redis:   \
                 {}\n  redrock: {}",
                script[*step],
                show(&expected.concat()),
                show(&got.concat())
            );
        }
        assert_eq!(ours.len(), theirs.len());
        // Clean slate for the next run (NUMSUB "end" proves the QUIT).
        for port in [redrock.port, redis.port] {
            let mut raw = RawClient::connect(port);
            eventually("the script's subscriptions to go", || {
                raw.command(&["PUBSUB", "NUMPAT"]) == b":0\r\n"
                    && raw.command(&["PUBSUB", "CHANNELS"]) == b"*0\r\n"
            });
        }
    }
}

#[test]
fn redis_py_pubsub() {
    let server = Server::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/pubsub.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(server.port.to_string())
        .output()
        .expect("python3 must be installed (with redis-py 5+)");
    assert!(
        output.status.success(),
        "{script} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

const PASSWORD: &str = "cluster-secret";

/// Three nodes with a password, made a cluster with the `redrock` tool.
fn cluster(extra: &[&str]) -> Vec<Server> {
    let mut args = vec!["--cluster-enabled", "yes", "--requirepass", PASSWORD];
    args.extend_from_slice(extra);
    let nodes: Vec<Server> = (0..3).map(|_| Server::start_with(&args)).collect();
    let mut create = vec![
        "cluster".to_string(),
        "create".to_string(),
        "--password".to_string(),
        PASSWORD.to_string(),
    ];
    create.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)));
    let out = Command::new(env!("CARGO_BIN_EXE_redrock"))
        .args(&create)
        .output()
        .expect("running redrock");
    assert!(
        out.status.success(),
        "cluster create: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    nodes
}

fn authed(node: &Server) -> RawClient {
    let mut raw = node.raw();
    assert_eq!(raw.command(&["AUTH", PASSWORD]), b"+OK\r\n");
    raw
}

#[test]
fn cluster_publish_reaches_every_node_and_shard_channels_are_routed() {
    let logs = tempfile::tempdir().unwrap();
    let log_dir = logs.path().to_str().unwrap();
    let nodes = cluster(&["--log-dir", log_dir]);
    let mut subscribers: Vec<RawClient> = nodes.iter().map(authed).collect();
    for sub in &mut subscribers {
        replies_of(sub, &["SUBSCRIBE", "news"], 1);
    }
    let mut a = authed(&nodes[0]);
    // The count is of this node's receivers, as in Redis Cluster.
    assert_eq!(a.command(&["PUBLISH", "news", "first"]), b":1\r\n");
    for sub in &mut subscribers {
        assert_eq!(sub.read_reply(), push(2, &["message", "news", "first"]));
    }
    // One publisher's messages arrive in order on every node.
    let readers: Vec<_> = subscribers
        .into_iter()
        .map(|mut sub| {
            std::thread::spawn(move || {
                for i in 0..2000 {
                    let expected = push(2, &["message", "news", &format!("m{i}")]);
                    assert!(sub.read_reply() == expected, "message {i}");
                }
                sub
            })
        })
        .collect();
    let batch: Vec<u8> = (0..2000)
        .flat_map(|i| RawClient::encode(&["PUBLISH", "news", &format!("m{i}")]))
        .collect();
    a.send(&batch);
    for _ in 0..2000 {
        assert_eq!(a.read_reply(), b":1\r\n");
    }
    let mut subscribers: Vec<RawClient> = readers
        .into_iter()
        .map(|r| r.join().expect("every node's subscriber in order"))
        .collect();
    // A forwarded message is delivered where it lands and goes no further.
    let mut b = authed(&nodes[1]);
    assert_eq!(
        b.command(&["CLUSTERX", "PUBLISH", "news", "local"]),
        b":1\r\n"
    );
    assert_eq!(
        subscribers[1].read_reply(),
        push(2, &["message", "news", "local"])
    );
    assert_eq!(
        subscribers[0].command(&["PING", "nothing-else"]),
        push(2, &["pong", "nothing-else"])
    );
    assert_eq!(
        subscribers[2].command(&["PING", "nothing-else"]),
        push(2, &["pong", "nothing-else"])
    );

    // Shard channels are keys: routed to their slot's node, one slot per
    // command.
    let mut owner_of = BTreeMap::new();
    for i in 0..200 {
        let channel = format!("s{i}");
        let reply = a.command(&["SPUBLISH", &channel, "x"]);
        let owner = if reply == b":0\r\n" {
            nodes[0].port
        } else {
            let text = String::from_utf8(reply).unwrap();
            assert!(text.starts_with("-MOVED "), "{text}");
            text.trim_end().rsplit(':').next().unwrap().parse().unwrap()
        };
        owner_of.insert(channel, owner);
    }
    let local = owner_of
        .iter()
        .find(|(_, &port)| port == nodes[0].port)
        .map(|(c, _)| c.clone())
        .unwrap();
    let (remote, remote_port) = owner_of
        .iter()
        .find(|(_, &port)| port != nodes[0].port)
        .map(|(c, p)| (c.clone(), *p))
        .unwrap();
    let slot_of =
        |raw: &mut RawClient, key: &str| int_of(&raw.command(&["CLUSTER", "KEYSLOT", key]));
    let remote_slot = slot_of(&mut a, &remote);
    assert_eq!(
        error(&mut a, &["SSUBSCRIBE", &remote]),
        format!("MOVED {remote_slot} 127.0.0.1:{remote_port}")
    );
    assert_eq!(
        error(&mut a, &["SUNSUBSCRIBE", &remote]),
        format!("MOVED {remote_slot} 127.0.0.1:{remote_port}")
    );
    assert_eq!(
        error(&mut a, &["SSUBSCRIBE", &local, &remote]),
        "CROSSSLOT Keys in request don't hash to the same slot"
    );
    let mut shard_sub = authed(&nodes[0]);
    let tagged = format!("{{{local}}}x");
    assert_eq!(
        replies_of(&mut shard_sub, &["SSUBSCRIBE", &local, &tagged], 2),
        [
            confirm(2, "ssubscribe", Some(&local), 1),
            confirm(2, "ssubscribe", Some(&tagged), 2),
        ]
        .concat()
    );
    assert_eq!(a.command(&["SPUBLISH", &local, "hi"]), b":1\r\n");
    assert_eq!(shard_sub.read_reply(), push(2, &["smessage", &local, "hi"]));
    // Shard messages stay on their node.
    assert_eq!(subscribers[1].command(&["PING"]), push(2, &["pong", ""]));
    assert_eq!(
        replies_of(&mut shard_sub, &["SUNSUBSCRIBE"], 2),
        [
            confirm(2, "sunsubscribe", Some(&local), 1),
            confirm(2, "sunsubscribe", Some(&tagged), 0),
        ]
        .concat()
    );

    // A node going down holds nobody up: PUBLISH answers at once and the
    // other nodes still receive, in order.
    let mut nodes = nodes;
    nodes[2].kill9();
    drop(subscribers.pop());
    let readers: Vec<_> = subscribers
        .into_iter()
        .map(|mut sub| {
            std::thread::spawn(move || {
                for i in 0..500 {
                    let expected = push(2, &["message", "news", &format!("after{i}")]);
                    assert!(sub.read_reply() == expected, "message {i} after the kill");
                }
            })
        })
        .collect();
    for i in 0..500 {
        assert_eq!(
            a.command(&["PUBLISH", "news", &format!("after{i}")]),
            b":1\r\n"
        );
    }
    for reader in readers {
        reader.join().expect("the live nodes' subscribers");
    }
    eventually("the unreachable node to be logged", || {
        log_of(logs.path()).contains("to forward PUBLISH")
    });

    // What a down node's queue may hold is bounded: 256 MB published,
    // the excess dropped and logged.
    let payload = "p".repeat(1 << 20);
    let baseline = rss(nodes[0].child.id());
    let mut peak = baseline;
    for _ in 0..256 {
        assert_eq!(a.command(&["PUBLISH", "unheard", &payload]), b":0\r\n");
        peak = peak.max(rss(nodes[0].child.id()));
    }
    assert!(
        peak - baseline < 160 << 20,
        "node A grew by {} MB queueing for a down node",
        (peak - baseline) >> 20
    );
    eventually("the dropping to be logged", || {
        log_of(logs.path()).contains("dropping PUBLISH messages")
    });
}

/// One frame as its parts: `[kind, parts...]`, integers as text, a nil
/// as `None`.
fn parts(frame: &[u8]) -> Vec<Option<String>> {
    let t = tokens(frame);
    let mut out = Vec::new();
    let mut i = 1;
    while i + 1 < t.len() {
        if t[i] == "$-1" || t[i] == "_" {
            out.push(None);
            i += 1;
        } else if t[i].starts_with('$') {
            out.push(Some(t[i + 1].clone()));
            i += 2;
        } else {
            out.push(Some(t[i].trim_start_matches(':').to_string()));
            i += 1;
        }
    }
    out
}

/// Whether `channel` matches one of the stress test's patterns.
fn stress_pattern_matches(pattern: &str, channel: &str) -> bool {
    match pattern {
        "c*" => channel.starts_with('c'),
        "c[0-3]" => channel.len() == 2 && (b'0'..=b'3').contains(&channel.as_bytes()[1]),
        other => panic!("unexpected pattern {other}"),
    }
}

#[test]
fn concurrent_subscribes_and_publishes_keep_every_invariant() {
    use rand::{Rng, SeedableRng};
    const PUBLISHERS: usize = 4;
    const PUBLISHES: usize = 4000;
    const SUBSCRIBERS: usize = 6;
    const OPERATIONS: usize = 300;
    let channels: Vec<String> = (0..8).map(|i| format!("c{i}")).collect();
    let server = Server::start();
    let port = server.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|id| {
            let channels = channels.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(id as u64);
                let mut raw = RawClient::connect(port);
                let mut seq = 0;
                while seq < PUBLISHES || !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let channel = &channels[rng.random_range(0..channels.len())];
                    let reply = raw.command(&["PUBLISH", channel, &format!("P{id}:{seq}")]);
                    assert!(int_of(&reply) >= 0);
                    seq += 1;
                }
            })
        })
        .collect();
    let subscribers: Vec<_> = (0..SUBSCRIBERS)
        .map(|id| {
            let channels = channels.clone();
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(100 + id as u64);
                let mut raw = RawClient::connect(port);
                let proto = if id % 2 == 0 { 2 } else { 3 };
                if proto == 3 {
                    hello3(&mut raw);
                }
                let mut subscribed: std::collections::BTreeSet<String> = Default::default();
                let mut patterns: std::collections::BTreeSet<String> = Default::default();
                // (subscription, publisher) -> last sequence number seen.
                let mut last: BTreeMap<(String, usize), i64> = BTreeMap::new();
                let mut messages = 0u64;
                for op in 0..=OPERATIONS {
                    let pick = |rng: &mut rand::rngs::StdRng| -> Vec<String> {
                        (0..rng.random_range(1..=3))
                            .map(|_| channels[rng.random_range(0..channels.len())].clone())
                            .collect()
                    };
                    let (command, names): (&str, Vec<String>) = match (op, rng.random_range(0..6)) {
                        // The last operations leave nothing subscribed.
                        (OPERATIONS, _) => ("UNSUBSCRIBE", Vec::new()),
                        (_, 0 | 1) => ("SUBSCRIBE", pick(&mut rng)),
                        (_, 2) => ("UNSUBSCRIBE", pick(&mut rng)),
                        (_, 3) => ("UNSUBSCRIBE", Vec::new()),
                        (_, 4) => (
                            "PSUBSCRIBE",
                            vec![["c*", "c[0-3]"][rng.random_range(0..2)].to_string()],
                        ),
                        _ => ("PUNSUBSCRIBE", Vec::new()),
                    };
                    let mut args = vec![command.to_string()];
                    args.extend(names.iter().cloned());
                    raw.send(&RawClient::encode(&args));
                    let pattern_kind = command.starts_with('P');
                    let expected = match names.len() {
                        0 if pattern_kind => patterns.len().max(1),
                        0 => subscribed.len().max(1),
                        n => n,
                    };
                    let mut confirmations = 0;
                    while confirmations < expected {
                        let frame = raw.read_reply();
                        let p = parts(&frame);
                        let word = p[0].clone().unwrap_or_default();
                        match word.as_str() {
                            "message" | "pmessage" => {
                                let (via, channel, payload) = if word == "message" {
                                    let channel = p[1].clone().unwrap();
                                    assert!(
                                        subscribed.contains(&channel),
                                        "subscriber {id}: a message of {channel}, not \
                                         subscribed: {}",
                                        show(&frame)
                                    );
                                    (channel.clone(), channel, p[2].clone().unwrap())
                                } else {
                                    let pattern = p[1].clone().unwrap();
                                    let channel = p[2].clone().unwrap();
                                    assert!(
                                        patterns.contains(&pattern)
                                            && stress_pattern_matches(&pattern, &channel),
                                        "subscriber {id}: {}",
                                        show(&frame)
                                    );
                                    (pattern, channel, p[3].clone().unwrap())
                                };
                                assert!(channels.contains(&channel));
                                let (publisher, seq) = payload[1..].split_once(':').unwrap();
                                let key = (via, publisher.parse::<usize>().unwrap());
                                let seq: i64 = seq.parse().unwrap();
                                let previous = last.insert(key.clone(), seq);
                                assert!(
                                    previous.is_none_or(|p| p < seq),
                                    "subscriber {id}: {key:?} went from {previous:?} to {seq}"
                                );
                                messages += 1;
                            }
                            w if w.ends_with("subscribe") => {
                                assert_eq!(w, command.to_lowercase(), "{}", show(&frame));
                                let name = p[1].clone();
                                if let Some(name) = &name {
                                    let set = if pattern_kind {
                                        &mut patterns
                                    } else {
                                        &mut subscribed
                                    };
                                    if w.contains("unsub") {
                                        set.remove(name);
                                    } else {
                                        set.insert(name.clone());
                                    }
                                }
                                let count: usize = p[2].clone().unwrap().parse().unwrap();
                                assert_eq!(
                                    count,
                                    subscribed.len() + patterns.len(),
                                    "subscriber {id}: {}",
                                    show(&frame)
                                );
                                confirmations += 1;
                            }
                            _ => panic!("subscriber {id}: unexpected {}", show(&frame)),
                        }
                    }
                }
                if !patterns.is_empty() {
                    raw.send(&RawClient::encode(&["PUNSUBSCRIBE"]));
                    // Messages may still come before the confirmations.
                    let mut left = patterns.len();
                    while left > 0 {
                        let frame = raw.read_reply();
                        if tokens(&frame)[2] == "punsubscribe" {
                            left -= 1;
                        }
                    }
                }
                // Nothing comes after the last confirmation.
                assert_eq!(raw.command(&["PING"]), b"+PONG\r\n");
                messages
            })
        })
        .collect();
    let received: Vec<u64> = subscribers
        .into_iter()
        .map(|s| s.join().expect("a subscriber's invariants"))
        .collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for publisher in publishers {
        publisher.join().expect("a publisher");
    }
    assert!(received.iter().all(|&n| n > 0), "{received:?}");
    let mut admin = server.raw();
    eventually("every subscription to go", || {
        admin.command(&["PUBSUB", "NUMPAT"]) == b":0\r\n"
            && admin.command(&["PUBSUB", "CHANNELS"]) == b"*0\r\n"
    });
}

#[test]
fn subscribers_are_not_closed_for_idleness() {
    let server = Server::start_with(&["--timeout", "1"]);
    let mut sub = server.raw();
    replies_of(&mut sub, &["PSUBSCRIBE", "*"], 1);
    let mut idle = server.raw();
    assert_eq!(idle.command(&["PING"]), b"+PONG\r\n");
    // Past the timeout: the plain client is closed, the subscriber stays,
    // as in Redis.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(idle.is_closed());
    let mut publisher = server.raw();
    assert_eq!(publisher.command(&["PUBLISH", "late", "x"]), b":1\r\n");
    assert_eq!(sub.read_reply(), push(2, &["pmessage", "*", "late", "x"]));
}
