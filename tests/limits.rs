//! Bounded memory and abuse: request limits before AUTH, the query and
//! output buffer limits, admin commands' flags, secrets kept out of
//! SLOWLOG, config files that stay private, and protected mode. Where
//! Redis decides the bytes, a real redis-server answers the same requests.

mod common;
use common::*;
use redis::Value;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port)).expect("connecting")
}

/// Sends `bytes`, ignoring a failure: the server may close the connection
/// before it has read them all.
fn send_all(stream: &mut TcpStream, bytes: &[u8]) {
    let _ = stream.write_all(bytes);
}

/// A CONFIG GET reply of one directive, as RESP bytes.
fn config_reply(name: &str, value: &str) -> Vec<u8> {
    format!(
        "*2\r\n${}\r\n{name}\r\n${}\r\n{value}\r\n",
        name.len(),
        value.len()
    )
    .into_bytes()
}

/// Waits (bounded) until the server has `count` clients.
fn wait_for_clients(admin: &mut redis::Connection, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(admin).unwrap();
        if list.lines().count() == count {
            return;
        }
        assert!(Instant::now() < deadline, "clients: {list}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn requests_before_auth_are_small_as_in_redis() {
    let redrock = Server::start_with(&["--requirepass", "pw"]);
    let redis = RedisServer::start();
    assert_eq!(
        redis.raw().command(&["CONFIG", "SET", "requirepass", "pw"]),
        b"+OK\r\n"
    );
    let eleven = ["MSET", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5"];
    let sixteen_k = "x".repeat(16 * 1024);
    for port in [redrock.port, redis.port] {
        // Too many arguments, or too long a one, and the connection closes
        // with Redis's words; the long argument is refused from its header.
        let mut stream = connect(port);
        send_all(&mut stream, b"*11\r\n");
        assert_eq!(
            read_until_closed(&mut stream),
            b"-ERR Protocol error: unauthenticated multibulk length\r\n"
        );
        let mut stream = connect(port);
        send_all(&mut stream, b"*2\r\n$4\r\nAUTH\r\n$16385\r\n");
        assert_eq!(
            read_until_closed(&mut stream),
            b"-ERR Protocol error: unauthenticated bulk length\r\n"
        );
        // Within the limits a request is merely refused; after AUTH the
        // limits are gone.
        let mut raw = RawClient::connect(port);
        assert_eq!(
            raw.command(&["ECHO", &sixteen_k]),
            b"-NOAUTH Authentication required.\r\n"
        );
        assert_eq!(raw.command(&["AUTH", "pw"]), b"+OK\r\n");
        assert_eq!(raw.command(&eleven), b"+OK\r\n");
        let long = "y".repeat(16385);
        assert_eq!(raw.command(&["ECHO", &long]).len(), 16385 + 10);
    }
}

#[test]
fn a_query_buffer_past_the_limit_closes_the_client() {
    let server = Server::start();
    let mut admin = server.raw();
    assert_eq!(
        admin.command(&["CONFIG", "GET", "client-query-buffer-limit"]),
        config_reply("client-query-buffer-limit", "1073741824")
    );
    assert_eq!(
        error(
            &mut admin,
            &["CONFIG", "SET", "client-query-buffer-limit", "1000"]
        ),
        "ERR CONFIG SET failed (possibly related to argument 'client-query-buffer-limit') - \
         argument must be between 1048576 and 9223372036854775807 inclusive"
    );
    assert_eq!(
        error(
            &mut admin,
            &["CONFIG", "SET", "client-query-buffer-limit", "abc"]
        ),
        "ERR CONFIG SET failed (possibly related to argument 'client-query-buffer-limit') - \
         argument must be a memory value"
    );
    assert_eq!(
        admin.command(&["CONFIG", "SET", "client-query-buffer-limit", "1mb"]),
        b"+OK\r\n"
    );
    assert_eq!(
        admin.command(&["CONFIG", "GET", "client-query-buffer-limit"]),
        config_reply("client-query-buffer-limit", "1048576")
    );
    // A request still arriving past 1 MB: closed without a reply.
    let mut big = connect(server.port);
    send_all(&mut big, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n");
    send_all(&mut big, &vec![b'v'; 1_100_000]);
    assert_eq!(read_until_closed(&mut big), b"");
    // Under the limit a request is served, and the server is unharmed.
    let value = "v".repeat(1_000_000);
    assert_eq!(admin.command(&["SET", "k", &value]), b"+OK\r\n");
    assert_eq!(admin.command(&["STRLEN", "k"]), b":1000000\r\n");
}

#[test]
fn a_blocked_client_cannot_grow_its_input_without_bound() {
    let server = Server::start();
    let mut admin = server.client();
    q(
        &mut admin,
        &["CONFIG", "SET", "client-query-buffer-limit", "1mb"],
    );
    let mut blocked = connect(server.port);
    send_all(&mut blocked, &RawClient::encode(&["BLPOP", "nothing", "0"]));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut admin).unwrap();
        if list.contains("flags=b") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the client never blocked: {list}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // It keeps sending while blocked: past the limit it is closed.
    let pings: Vec<u8> = RawClient::encode(&["PING"]).repeat(100_000);
    assert!(pings.len() > 1 << 20);
    send_all(&mut blocked, &pings);
    assert_eq!(read_until_closed(&mut blocked), b"");
    wait_for_clients(&mut admin, 1);
}

#[test]
fn pipelined_replies_go_out_as_they_come_and_the_hard_limit_closes() {
    let server = Server::start();
    let mut admin = server.raw();
    let limit = "client-output-buffer-limit";
    assert_eq!(
        admin.command(&["CONFIG", "GET", limit]),
        config_reply(
            limit,
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        )
    );
    assert_eq!(
        admin.command(&["CONFIG", "SET", limit, "normal 4mb 0 0"]),
        b"+OK\r\n"
    );
    assert_eq!(
        admin.command(&["CONFIG", "GET", limit]),
        config_reply(
            limit,
            "normal 4194304 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        )
    );
    assert_eq!(
        error(&mut admin, &["CONFIG", "SET", limit, "normal 1 2"]),
        "ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - \
         Wrong number of arguments in buffer limit configuration."
    );
    let value = "v".repeat(100_000);
    assert_eq!(admin.command(&["SET", "big", &value]), b"+OK\r\n");
    // 600 GETs in one write: 60 MB of replies, 15 times the hard limit if
    // they were held whole; they go out as they come instead.
    let mut raw = server.raw();
    raw.send(&RawClient::encode(&["GET", "big"]).repeat(600));
    let expected = format!("$100000\r\n{value}\r\n").into_bytes();
    for _ in 0..600 {
        assert!(raw.read_reply() == expected, "a GET reply differs");
    }
    assert_eq!(raw.command(&["PING"]), b"+PONG\r\n");
    // One reply past the hard limit closes the client without it; what
    // ran before it in the pipeline took effect, as in Redis.
    let huge = "h".repeat(5 << 20);
    assert_eq!(admin.command(&["SET", "huge", &huge]), b"+OK\r\n");
    let mut greedy = connect(server.port);
    let mut pipeline = RawClient::encode(&["SET", "before", "1"]);
    pipeline.extend(RawClient::encode(&["GET", "huge"]));
    send_all(&mut greedy, &pipeline);
    assert_eq!(read_until_closed(&mut greedy), b"");
    assert_eq!(admin.command(&["GET", "before"]), b"$1\r\n1\r\n");
}

#[test]
fn a_client_that_stays_past_the_soft_limit_is_closed() {
    let server = Server::start();
    let mut admin = server.client();
    q(
        &mut admin,
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 0 1mb 1",
        ],
    );
    let value = "v".repeat(32 << 20);
    q(&mut admin, &["SET", "big", &value]);
    // The client asks for 32 MB and reads nothing: far more than the
    // socket buffers hold stays unsent for more than a second.
    let mut slow = server.raw();
    assert_eq!(slow.command(&["CLIENT", "SETNAME", "slow"]), b"+OK\r\n");
    slow.send(&RawClient::encode(&["GET", "big"]));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut admin).unwrap();
        if !list.contains("name=slow") {
            break;
        }
        assert!(Instant::now() < deadline, "the slow client was not closed");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Without the limit a client is served the same reply.
    q(
        &mut admin,
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 0 0 0",
        ],
    );
    let mut reader = server.raw();
    assert_eq!(reader.command(&["GET", "big"]).len(), (32 << 20) + 13);
}

/// Field `index` of COMMAND INFO `name`'s entry, as text.
fn command_info_field(con: &mut redis::Connection, name: &str, index: usize) -> Vec<String> {
    let info: Value = redis::cmd("COMMAND")
        .arg("INFO")
        .arg(name)
        .query(con)
        .unwrap();
    let Value::Array(entries) = info else {
        panic!("COMMAND INFO {name}: {info:?}")
    };
    let Value::Array(entry) = &entries[0] else {
        panic!("COMMAND INFO {name}: {entries:?}")
    };
    let items = match &entry[index] {
        Value::Array(items) | Value::Set(items) => items.clone(),
        other => panic!("COMMAND INFO {name}[{index}]: {other:?}"),
    };
    items
        .iter()
        .map(|item| match item {
            Value::SimpleString(s) => s.clone(),
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn admin_commands_carry_redis_flags_and_acl_categories() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    let mut ours = redrock.client();
    let mut theirs = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
    for name in [
        "shutdown",
        "flushall",
        "flushdb",
        "bgsave",
        "config|set",
        "config|get",
        "config|rewrite",
        "config|resetstat",
        "client|kill",
        "client|list",
        "slowlog|get",
        "info",
        "keys",
    ] {
        assert_eq!(
            command_info_field(&mut ours, name, 6),
            command_info_field(&mut theirs, name, 6),
            "ACL categories of {name}"
        );
        let mut our_flags = command_info_field(&mut ours, name, 2);
        let mut their_flags = command_info_field(&mut theirs, name, 2);
        our_flags.sort();
        their_flags.sort();
        assert_eq!(our_flags, their_flags, "flags of {name}");
    }
    // Commands Redis lacks are admin commands.
    for name in ["clusterx", "compact"] {
        assert!(command_info_field(&mut ours, name, 2).contains(&"admin".to_string()));
        assert!(command_info_field(&mut ours, name, 6).contains(&"@admin".to_string()));
    }
}

/// The arguments of every SLOWLOG entry, newest first.
fn slowlog_args(con: &mut redis::Connection) -> Vec<Vec<String>> {
    let entries: Vec<Value> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg("-1")
        .query(con)
        .unwrap();
    entries
        .iter()
        .map(|entry| {
            let Value::Array(fields) = entry else {
                panic!("{entry:?}")
            };
            let Value::Array(args) = &fields[3] else {
                panic!("{fields:?}")
            };
            args.iter()
                .map(|a| match a {
                    Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                    other => panic!("{other:?}"),
                })
                .collect()
        })
        .collect()
}

#[test]
fn slowlog_redacts_passwords_as_redis_does() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    let mut logs = Vec::new();
    for port in [redrock.port, redis.port] {
        let mut raw = RawClient::connect(port);
        raw.command(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
        raw.command(&["SLOWLOG", "RESET"]);
        assert_eq!(
            raw.command(&["CONFIG", "SET", "requirepass", "s3cret"]),
            b"+OK\r\n"
        );
        assert_eq!(raw.command(&["AUTH", "s3cret"]), b"+OK\r\n");
        assert_eq!(raw.command(&["AUTH", "default", "s3cret"]), b"+OK\r\n");
        raw.command(&["HELLO", "2", "AUTH", "default", "s3cret", "SETNAME", "me"]);
        raw.command(&["CONFIG", "SET", "timeout", "0", "requirepass", "s3cret2"]);
        let mut con = redis::Client::open(format!("redis://:s3cret2@127.0.0.1:{port}/"))
            .unwrap()
            .get_connection()
            .unwrap();
        logs.push(slowlog_args(&mut con));
    }
    let ours = &logs[0];
    assert!(
        ours.iter().flatten().all(|a| !a.contains("s3cret")),
        "{ours:?}"
    );
    // The redis crate's own AUTH and the commands after ours are not
    // compared: only the entries both logs have for the same commands.
    let tail = |log: &Vec<Vec<String>>| -> Vec<Vec<String>> {
        log.iter()
            .skip_while(|args| {
                args[0] != "CONFIG" || args.get(2).map(String::as_str) != Some("timeout")
            })
            .cloned()
            .collect()
    };
    assert_eq!(tail(ours), tail(&logs[1]));
    assert_eq!(tail(ours).len(), 6, "{ours:?}");
    assert_eq!(
        tail(ours)[0],
        ["CONFIG", "SET", "timeout", "0", "requirepass", "(redacted)"]
    );
}

#[test]
fn config_rewrite_keeps_a_private_file_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("redrock.conf");
    std::fs::write(&conf, "requirepass s3cret\n").unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
    let server = Server::start_with(&["-c", conf.to_str().unwrap()]);
    let mut raw = server.raw();
    assert_eq!(raw.command(&["AUTH", "s3cret"]), b"+OK\r\n");
    assert_eq!(
        raw.command(&["CONFIG", "SET", "requirepass", "other"]),
        b"+OK\r\n"
    );
    assert_eq!(raw.command(&["CONFIG", "REWRITE"]), b"+OK\r\n");
    let meta = std::fs::metadata(&conf).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&conf)
        .unwrap()
        .contains("requirepass other"));
}

#[test]
fn protected_mode_refuses_strangers_until_a_password_is_set() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    // 127.0.0.2 is loopback, yet not 127.0.0.1: Redis does not count it as
    // local, and neither does RedRock.
    let denied = read_until_closed(&mut connect_from("127.0.0.2", redrock.port));
    assert!(denied.starts_with(b"-DENIED Redis is running in protected mode"));
    assert_eq!(
        denied,
        read_until_closed(&mut connect_from("127.0.0.2", redis.port))
    );
    let mut admin = redrock.raw();
    assert_eq!(
        admin.command(&["CONFIG", "GET", "protected-mode"]),
        config_reply("protected-mode", "yes")
    );
    // With a password strangers may connect, and must AUTH.
    assert_eq!(
        admin.command(&["CONFIG", "SET", "requirepass", "pw"]),
        b"+OK\r\n"
    );
    let mut stranger = connect_from("127.0.0.2", redrock.port);
    send_all(&mut stranger, &RawClient::encode(&["PING"]));
    let mut reply = [0u8; 64];
    let n = std::io::Read::read(&mut stranger, &mut reply).unwrap();
    assert_eq!(&reply[..n], b"-NOAUTH Authentication required.\r\n");
    // Without protected mode they need nothing.
    assert_eq!(
        admin.command(&["CONFIG", "SET", "requirepass", "", "protected-mode", "no"]),
        b"+OK\r\n"
    );
    let mut stranger = connect_from("127.0.0.2", redrock.port);
    send_all(&mut stranger, &RawClient::encode(&["PING"]));
    let n = std::io::Read::read(&mut stranger, &mut reply).unwrap();
    assert_eq!(&reply[..n], b"+PONG\r\n");
}
