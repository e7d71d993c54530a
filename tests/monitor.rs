//! MONITOR against redis-server: the same commands give the same lines
//! (timestamps and client ports aside), the same replies in monitor mode,
//! and a monitor that stops reading is dropped instead of holding memory.

mod common;

use common::{RawClient, RedisServer, Server};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::time::Duration;

/// A monitor connection: MONITOR sent, its +OK read.
fn attach(port: u16) -> BufReader<TcpStream> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    std::io::Write::write_all(&mut stream, &RawClient::encode(&["MONITOR"])).unwrap();
    let mut reader = BufReader::new(stream);
    let mut ok = String::new();
    reader.read_line(&mut ok).unwrap();
    assert_eq!(ok, "+OK\r\n");
    reader
}

/// Monitor lines up to the one of `ECHO end`, with the timestamp dropped
/// and each client address named by its order of appearance.
fn lines_until_end(monitor: &mut BufReader<TcpStream>) -> Vec<String> {
    let mut clients: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    loop {
        let mut line = String::new();
        monitor.read_line(&mut line).expect("a monitor line");
        let line = line.trim_end_matches("\r\n");
        assert!(line.starts_with('+'), "{line}");
        let (stamp, rest) = line[1..].split_once(' ').unwrap();
        let (secs, micros) = stamp.split_once('.').unwrap();
        assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{line}");
        let (origin, args) = rest.split_once("] ").unwrap();
        let (db, who) = origin[1..].split_once(' ').unwrap();
        let who = match who {
            "lua" => "lua".to_string(),
            addr => {
                let next = clients.len();
                format!("client{}", clients.entry(addr.to_string()).or_insert(next))
            }
        };
        out.push(format!("[{db} {who}] {args}"));
        if args.eq_ignore_ascii_case("\"echo\" \"end\"") {
            return out;
        }
    }
}

/// Commands of every kind MONITOR treats apart, run on `port`.
fn run_workload(port: u16) {
    let mut c = RawClient::connect(port);
    let commands: Vec<Vec<&[u8]>> = vec![
        vec![b"SET", b"plain", b"1"],
        vec![b"SET", b"a\"b", b"x\ny\tz\\\xc3\xa9\r\x07\x08\x00 "],
        vec![b"SET", b"", b""],
        vec![
            b"EVAL",
            b"redis.call('set','k','v') return redis.call('get','k')",
            b"0",
        ],
        vec![b"AUTH", b"nobody", b"secret"],
        vec![b"HELLO", b"2", b"AUTH", b"nobody", b"secret"],
        vec![b"MULTI"],
        vec![b"INCR", b"counter"],
        vec![b"GET", b"plain"],
        vec![b"EXEC"],
        // Refused before they run: not shown.
        vec![b"NOSUCHCOMMAND", b"x"],
        vec![b"GET"],
        // Admin commands: not shown.
        vec![b"CONFIG", b"GET", b"port"],
        vec![b"CLIENT", b"LIST"],
        vec![b"SLOWLOG", b"LEN"],
        vec![b"CLIENT", b"INFO"],
        vec![b"INFO", b"keyspace"],
        vec![b"SELECT", b"3"],
        vec![b"PING"],
        vec![b"SELECT", b"0"],
        vec![b"BLPOP", b"nothing", b"0.05"],
    ];
    for command in &commands {
        c.command(command);
    }
    // A blocked command shows once, when it first runs, however often
    // it is retried.
    let mut blocked = RawClient::connect(port);
    blocked.send(&RawClient::encode(&["BLPOP", "queue", "5"]));
    std::thread::sleep(Duration::from_millis(100));
    c.command(&["RPUSH", "queue", "item"]);
    assert!(common::show(&blocked.read_reply()).contains("item"));
    c.command(&["ECHO", "end"]);
}

#[test]
fn lines_match_redis() {
    let redis = RedisServer::start();
    let mut redis_monitor = attach(redis.port);
    run_workload(redis.port);
    let expected = lines_until_end(&mut redis_monitor);
    assert!(expected.len() > 15, "{expected:?}");

    let server = Server::start();
    let mut monitors: Vec<_> = (0..3).map(|_| attach(server.port)).collect();
    run_workload(server.port);
    for monitor in &mut monitors {
        assert_eq!(lines_until_end(monitor), expected);
    }
}

/// The replies a monitor gets to its own commands, with monitor lines'
/// timestamps and addresses blanked.
fn monitor_mode_replies(port: u16) -> Vec<String> {
    let mut c = RawClient::connect(port);
    let mut replies = Vec::new();
    let mut record = |reply: Vec<u8>| {
        let text = String::from_utf8_lossy(&reply).to_string();
        let text = match text.split_once(" [") {
            Some((_, rest)) if text.starts_with('+') => format!("+line [{rest}"),
            _ => text,
        };
        replies.push(text.replace(&format!("127.0.0.1:{}", c_port(&text)), "addr"));
    };
    record(c.command(&["MONITOR"]));
    // Keys are off limits; a second MONITOR answers nothing.
    record(c.command(&["GET", "x"]));
    c.send(&RawClient::encode(&["MONITOR"]));
    record(c.command(&["PING"]));
    record(c.read_reply());
    // RESET leaves monitor mode.
    record(c.command(&["RESET"]));
    record(c.command(&["GET", "x"]));
    // Not inside a transaction.
    c.command(&["MULTI"]);
    c.command(&["MONITOR"]);
    record(c.command(&["EXEC"]));
    replies
}

/// The client port in a monitor line, if any.
fn c_port(text: &str) -> String {
    text.split("127.0.0.1:")
        .nth(1)
        .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default()
}

#[test]
fn monitor_mode_replies_match_redis() {
    let redis = RedisServer::start();
    let expected = monitor_mode_replies(redis.port);
    assert_eq!(expected[3], "+line [0 addr] \"PING\"\r\n");
    let server = Server::start();
    assert_eq!(monitor_mode_replies(server.port), expected);

    // CLIENT LIST marks a monitor with O; a new connection is no monitor.
    let mut monitor = server.raw();
    monitor.command(&["MONITOR"]);
    let mut other = server.raw();
    let list = common::show(&other.command(&["CLIENT", "LIST"]));
    assert_eq!(list.matches("flags=O").count(), 1, "{list}");
}

#[test]
fn a_monitor_that_stops_reading_is_dropped() {
    let server = Server::start();
    let mut stalled = attach(server.port);
    // More lines than a monitor may have waiting, and more bytes than the
    // socket buffers hold.
    const COMMANDS: usize = 120_000;
    let value = "v".repeat(200);
    let mut writer = server.raw();
    let mut batch = Vec::new();
    for i in 0..COMMANDS {
        batch.extend(RawClient::encode(&["SET", &format!("key:{i}"), &value]));
        if (i + 1) % 1000 == 0 {
            writer.send(&batch);
            batch.clear();
            for _ in 0..1000 {
                assert_eq!(writer.read_reply(), b"+OK\r\n");
            }
        }
    }
    // The server went on serving, and dropped the monitor: reading what it
    // was sent ends in EOF, short of every command.
    let mut seen = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        match stalled.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => seen += 1,
            Err(e) => panic!("the dropped monitor was not closed: {e} after {seen} lines"),
        }
    }
    assert!(seen < COMMANDS, "{seen} lines");
    assert!(seen >= 65_536, "{seen} lines");
    let mut rest = Vec::new();
    assert_eq!(stalled.get_mut().read_to_end(&mut rest).unwrap(), 0);
    // A new monitor works.
    let mut fresh = attach(server.port);
    writer.command(&["ECHO", "end"]);
    assert_eq!(lines_until_end(&mut fresh).len(), 1);
}
