//! Connection and server commands, the wire protocol, and limits.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn ping_echo_quit_time() {
    let server = Server::start();
    let mut raw = server.raw();
    assert_eq!(raw.command(&["PING"]), b"+PONG\r\n");
    assert_eq!(raw.command(&["PING", "hi"]), b"$2\r\nhi\r\n");
    assert_eq!(
        error(&mut raw, &["PING", "a", "b"]),
        "ERR wrong number of arguments for 'ping' command"
    );
    assert_eq!(raw.command(&["ECHO", "x y"]), b"$3\r\nx y\r\n");
    let time = raw.command(&["TIME"]);
    assert!(time.starts_with(b"*2\r\n$10\r\n"), "{}", show(&time));
    assert_eq!(raw.command(&["QUIT"]), b"+OK\r\n");
    assert!(raw.is_closed());
}

#[test]
fn unknown_commands_and_arity() {
    let server = Server::start();
    let mut raw = server.raw();
    assert_eq!(
        error(&mut raw, &["FOO", "a", "b"]),
        "ERR unknown command 'FOO', with args beginning with: 'a' 'b' "
    );
    assert_eq!(
        error(&mut raw, &["nope"]),
        "ERR unknown command 'nope', with args beginning with: "
    );
    assert_eq!(
        error(&mut raw, &["CONFIG"]),
        "ERR wrong number of arguments for 'config' command"
    );
    assert_eq!(
        error(&mut raw, &["CONFIG", "GET"]),
        "ERR wrong number of arguments for 'config|get' command"
    );
    assert_eq!(
        error(&mut raw, &["CLIENT", "FOO"]),
        "ERR unknown subcommand 'FOO'. Try CLIENT HELP."
    );
}

#[test]
fn inline_commands_and_pipelining() {
    let server = Server::start();
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // A person typing into telnet.
    stream
        .write_all(b"SET greeting \"hello world\"\r\nGET greeting\r\nPING\n")
        .unwrap();
    let expected = b"+OK\r\n$11\r\nhello world\r\n+PONG\r\n";
    let mut got = vec![0u8; expected.len()];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(&got[..], expected);
    // 1000 pipelined requests in one write, answered in order.
    let mut batch = Vec::new();
    for i in 0..1000 {
        batch.extend(RawClient::encode(&["INCR", "counter"]));
        let _ = i;
    }
    stream.write_all(&batch).unwrap();
    let mut replies = Vec::new();
    let mut buf = [0u8; 65536];
    while replies.iter().filter(|&&b| b == b'\n').count() < 1000 {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0);
        replies.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8(replies).unwrap();
    let numbers: Vec<&str> = text.split("\r\n").filter(|s| !s.is_empty()).collect();
    assert_eq!(numbers.len(), 1000);
    assert_eq!(numbers[0], ":1");
    assert_eq!(numbers[999], ":1000");
}

#[test]
fn pipelined_read_modify_writes_stay_atomic_across_clients() {
    let server = Server::start();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let mut con = server.client();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let mut pipe = redis::pipe();
                    for _ in 0..20 {
                        pipe.cmd("INCR").arg("shared").ignore();
                        pipe.cmd("APPEND").arg("log").arg("x").ignore();
                    }
                    pipe.query::<()>(&mut con).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut con = server.client();
    assert_eq!(q(&mut con, &["GET", "shared"]), bulk("4000"));
    assert_eq!(q(&mut con, &["STRLEN", "log"]), int(4000));
    // A read later in the same pipeline sees the pipeline's own writes.
    let (a, b, n): (String, String, i64) = redis::pipe()
        .cmd("SET")
        .arg("p")
        .arg("1")
        .ignore()
        .cmd("GET")
        .arg("p")
        .cmd("INCR")
        .arg("p")
        .ignore()
        .cmd("GET")
        .arg("p")
        .cmd("DBSIZE")
        .query(&mut con)
        .unwrap();
    assert_eq!((a.as_str(), b.as_str(), n), ("1", "2", 3));
}

#[test]
fn malformed_resp_closes_only_that_connection() {
    let server = Server::start();
    let mut other = server.raw();
    for (input, message) in [
        (
            &b"*1\r\n:5\r\n"[..],
            "ERR Protocol error: expected '$', got ':'",
        ),
        (
            b"*2\r\n$3\r\nGET\r\n$-5\r\n",
            "ERR Protocol error: invalid bulk length",
        ),
        (b"*abc\r\n", "ERR Protocol error: invalid multibulk length"),
        (
            b"SET \"unbalanced\r\n",
            "ERR Protocol error: unbalanced quotes in request",
        ),
    ] {
        let mut raw = server.raw();
        raw.send(input);
        let reply = raw.read_reply();
        assert_eq!(show(&reply), format!("-{message}\\r\\n"));
        assert!(raw.is_closed(), "connection closed after {:?}", show(input));
    }
    assert_eq!(other.command(&["PING"]), b"+PONG\r\n");
}

#[test]
fn proto_max_bulk_len_is_enforced() {
    let server = Server::start_with(&["--proto-max-bulk-len", "1mb"]);
    let mut raw = server.raw();
    raw.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n");
    assert_eq!(
        raw.read_reply(),
        b"-ERR Protocol error: invalid bulk length\r\n"
    );
    let mut con = server.client();
    let value = "x".repeat(1 << 20);
    assert_eq!(q(&mut con, &["SET", "k", &value]), ok());
    assert_eq!(
        error(&mut server.raw(), &["APPEND", "k", "y"]),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
    assert_eq!(
        q(&mut con, &["CONFIG", "SET", "proto-max-bulk-len", "2mb"]),
        ok()
    );
    assert_eq!(q(&mut con, &["APPEND", "k", "y"]), int((1 << 20) + 1));
}

#[test]
fn idle_clients_time_out() {
    let server = Server::start_with(&["--timeout", "1"]);
    let mut raw = server.raw();
    assert_eq!(raw.command(&["PING"]), b"+PONG\r\n");
    std::thread::sleep(Duration::from_millis(2500));
    assert!(raw.is_closed(), "idle connection closed after timeout");
}

/// A connection that got in: retries (bounded) while connections that
/// closed a moment ago still hold their places.
fn admitted(server: &Server) -> RawClient {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut raw = server.raw();
        raw.send(&RawClient::encode(&["PING"]));
        if raw.read_reply() == b"+PONG\r\n" {
            return raw;
        }
        assert!(std::time::Instant::now() < deadline, "no place freed up");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn maxclients_rejects_extra_connections() {
    let server = Server::start_with(&["--maxclients", "2"]);
    let a = admitted(&server);
    let _b = admitted(&server);
    let mut c = server.raw();
    assert_eq!(c.read_reply(), b"-ERR max number of clients reached\r\n");
    assert!(c.is_closed());
    drop(a);
    admitted(&server);
    let info = String::from_utf8(admitted_info(&server)).unwrap();
    assert!(info.contains("rejected_connections:"), "{info}");
}

fn admitted_info(server: &Server) -> Vec<u8> {
    let mut raw = admitted(server);
    raw.command(&["INFO", "stats"])
}

#[test]
fn auth_and_hello() {
    let server = Server::start_with(&["--requirepass", "secret"]);
    let mut raw = server.raw();
    assert_eq!(
        error(&mut raw, &["GET", "k"]),
        "NOAUTH Authentication required."
    );
    assert_eq!(
        error(&mut raw, &["AUTH", "wrong"]),
        "WRONGPASS invalid username-password pair or user is disabled."
    );
    assert!(error(&mut raw, &["HELLO", "3"]).starts_with("NOAUTH HELLO must be called"));
    assert_eq!(raw.command(&["AUTH", "secret"]), b"+OK\r\n");
    assert_eq!(raw.command(&["GET", "k"]), b"$-1\r\n");
    let mut other = server.raw();
    let hello = other.command(&["HELLO", "3", "AUTH", "default", "secret", "SETNAME", "app"]);
    assert!(
        hello.starts_with(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"),
        "{}",
        show(&hello)
    );
    assert_eq!(other.command(&["GET", "k"]), b"_\r\n", "RESP3 null");
    assert_eq!(other.command(&["CLIENT", "GETNAME"]), b"$3\r\napp\r\n");
    assert_eq!(
        error(&mut other, &["HELLO", "4"]),
        "NOPROTO unsupported protocol version"
    );
    assert_eq!(
        error(&mut other, &["HELLO", "x"]),
        "ERR Protocol version is not an integer or out of range"
    );
    assert_eq!(
        error(&mut other, &["HELLO", "3", "FOO"]),
        "ERR Syntax error in HELLO option 'FOO'"
    );
    let back = other.command(&["HELLO", "2"]);
    assert!(back.starts_with(b"*14\r\n"), "{}", show(&back));
    // the redis crate authenticates through the URL
    let client =
        redis::Client::open(format!("redis://:secret@127.0.0.1:{}/", server.port)).unwrap();
    let mut con = client.get_connection().unwrap();
    assert_eq!(q(&mut con, &["SET", "k", "v"]), ok());
    let nopass = Server::start();
    assert_eq!(
        error(&mut nopass.raw(), &["AUTH", "x"]),
        "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
    );
}

#[test]
fn client_subcommands() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut con).unwrap();
    assert_eq!(q(&mut con, &["CLIENT", "GETNAME"]), nil());
    assert_eq!(q(&mut con, &["CLIENT", "SETNAME", "worker-1"]), ok());
    assert_eq!(q(&mut con, &["CLIENT", "GETNAME"]), bulk("worker-1"));
    assert_eq!(
        error(&mut raw, &["CLIENT", "SETNAME", "a b"]),
        "ERR Client names cannot contain spaces, newlines or special characters."
    );
    // The start-up probe's connection may take a moment to go.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let list = loop {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
        if list.lines().count() == 2 || std::time::Instant::now() > deadline {
            break list;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(
        list.contains(&format!("id={id} ")) && list.contains("name=worker-1"),
        "{list}"
    );
    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut con).unwrap();
    assert!(
        info.starts_with(&format!("id={id} ")) && info.contains("cmd=client|info"),
        "{info}"
    );
    let mine: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("ID")
        .arg(id)
        .query(&mut con)
        .unwrap();
    assert_eq!(mine.lines().count(), 1);
    // kill the raw client by id
    let raw_id = String::from_utf8(raw.command(&["CLIENT", "ID"])).unwrap();
    let raw_id = raw_id.trim_start_matches(':').trim().to_string();
    assert_eq!(q(&mut con, &["CLIENT", "KILL", "ID", &raw_id]), int(1));
    assert!(raw.is_closed());
    assert_eq!(q(&mut con, &["CLIENT", "KILL", "ID", "999999"]), int(0));
    let mut raw = server.raw();
    assert_eq!(
        error(&mut raw, &["CLIENT", "KILL", "1.2.3.4:5"]),
        "ERR No such client"
    );
    assert_eq!(
        error(&mut raw, &["CLIENT", "KILL", "FOO", "bar"]),
        "ERR syntax error"
    );
}

#[test]
fn command_introspection() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    let count: i64 = redis::cmd("COMMAND").arg("COUNT").query(&mut con).unwrap();
    assert!(count > 50);
    let info = q(&mut con, &["COMMAND", "INFO", "get", "nosuch"]);
    let redis::Value::Array(entries) = info else {
        panic!()
    };
    let redis::Value::Array(get) = &entries[0] else {
        panic!()
    };
    assert_eq!(get[0], bulk("get"));
    assert_eq!(get[1], int(2));
    assert_eq!(get[3], int(1));
    assert_eq!(entries[1], nil());
    assert_eq!(
        q(
            &mut con,
            &["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]
        ),
        array(vec![bulk("a"), bulk("b")])
    );
    assert_eq!(
        error(&mut raw, &["COMMAND", "GETKEYS", "PING"]),
        "ERR The command has no key arguments"
    );
    assert_eq!(
        error(&mut raw, &["COMMAND", "GETKEYS", "GET"]),
        "ERR Invalid number of arguments specified for command"
    );
    assert_eq!(
        error(&mut raw, &["COMMAND", "GETKEYS", "NOPE"]),
        "ERR Invalid command specified"
    );
    let list: Vec<String> = redis::cmd("COMMAND")
        .arg("LIST")
        .arg("FILTERBY")
        .arg("PATTERN")
        .arg("get*")
        .query(&mut con)
        .unwrap();
    let mut list = list;
    list.sort();
    assert_eq!(
        list,
        ["get", "getbit", "getdel", "getex", "getrange", "getset"]
    );
    let all = q(&mut con, &["COMMAND"]);
    assert!(matches!(all, redis::Value::Array(ref v) if v.len() as i64 == count));
    let docs = q(&mut con, &["COMMAND", "DOCS", "get"]);
    assert_eq!(docs, array(vec![bulk("get"), array(vec![])]));
}

#[test]
fn config_get_set_rewrite_resetstat() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("redrock.conf");
    std::fs::write(&conf, "# test config\ntimeout 0\nmaxclients 100\n").unwrap();
    let data = dir.path().join("data");
    let conf_text = conf.to_str().unwrap().to_string();
    let server = Server::start_in(&data, &["-c", &conf_text]);
    let mut con = server.client();
    let mut raw = server.raw();
    assert_eq!(
        q(&mut con, &["CONFIG", "GET", "maxclients"]),
        array(vec![bulk("maxclients"), bulk("100")])
    );
    let all: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("*")
        .query(&mut con)
        .unwrap();
    assert!(all.len() >= 40 && all.contains(&"rocksdb.block_cache_size".to_string()));
    let globbed: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("rocksdb.write_options.*")
        .query(&mut con)
        .unwrap();
    assert_eq!(globbed.len(), 4);
    assert_eq!(
        q(
            &mut con,
            &["CONFIG", "SET", "timeout", "30", "maxclients", "200"]
        ),
        ok()
    );
    assert_eq!(
        q(&mut con, &["CONFIG", "GET", "timeout", "maxclients"]),
        array(vec![
            bulk("timeout"),
            bulk("30"),
            bulk("maxclients"),
            bulk("200")
        ])
    );
    assert_eq!(
        error(&mut raw, &["CONFIG", "SET", "port", "1"]),
        "ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config"
    );
    assert_eq!(
        error(&mut raw, &["CONFIG", "SET", "maxclients", "abc"]),
        "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer"
    );
    assert_eq!(
        error(&mut raw, &["CONFIG", "SET", "nosuch", "1"]),
        "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"
    );
    // all or nothing
    assert!(error(
        &mut raw,
        &["CONFIG", "SET", "timeout", "5", "maxclients", "x"]
    )
    .starts_with("ERR CONFIG SET failed"));
    assert_eq!(
        q(&mut con, &["CONFIG", "GET", "timeout"]),
        array(vec![bulk("timeout"), bulk("30")])
    );
    assert_eq!(q(&mut con, &["CONFIG", "REWRITE"]), ok());
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text.starts_with("# test config\ntimeout 30\nmaxclients 200\n"),
        "{text}"
    );
    q(&mut con, &["GET", "k"]);
    assert_eq!(q(&mut con, &["CONFIG", "RESETSTAT"]), ok());
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut con)
        .unwrap();
    assert!(!info.contains("cmdstat_get:"), "{info}");
    let nofile = Server::start();
    assert_eq!(
        error(&mut nofile.raw(), &["CONFIG", "REWRITE"]),
        "ERR The server is running without a config file"
    );
}

#[test]
fn info_sections() {
    let server = Server::start();
    let mut con = server.client();
    q(&mut con, &["SET", "a", "1"]);
    q(&mut con, &["SET", "b", "1", "EX", "100"]);
    q(&mut con, &["GET", "a"]);
    q(&mut con, &["GET", "zz"]);
    let info: String = redis::cmd("INFO").query(&mut con).unwrap();
    for field in [
        "# Server\r\n",
        "redis_version:",
        "tcp_port:",
        "uptime_in_seconds:",
        "# Clients\r\n",
        "connected_clients:",
        "# Memory\r\n",
        "used_memory:",
        "# Persistence\r\n",
        "# Stats\r\n",
        "total_commands_processed:",
        "keyspace_hits:1\r\n",
        "keyspace_misses:1\r\n",
        "# Keyspace\r\n",
        "db0:keys=2,expires=1,avg_ttl=0\r\n",
    ] {
        assert!(info.contains(field), "missing {field:?} in {info}");
    }
    assert!(!info.contains("# Commandstats"));
    let all: String = redis::cmd("INFO").arg("all").query(&mut con).unwrap();
    assert!(all.contains("cmdstat_set:calls=2,"), "{all}");
    let two: String = redis::cmd("INFO")
        .arg("clients")
        .arg("keyspace")
        .query(&mut con)
        .unwrap();
    assert!(
        two.starts_with("# Clients") && two.contains("# Keyspace") && !two.contains("# Server")
    );
    assert_eq!(q(&mut con, &["INFO", "nosuchsection"]), bulk(""));
}

#[test]
fn shutdown_closes_cleanly() {
    let mut server = Server::start();
    let mut raw = server.raw();
    raw.command(&["SET", "k", "v"]);
    raw.send(&RawClient::encode(&["SHUTDOWN"]));
    assert!(raw.is_closed(), "SHUTDOWN sends no reply and closes");
    let status = wait_exit(&mut server.child, Duration::from_secs(30));
    assert!(status.success(), "{status}");
}
