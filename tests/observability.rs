//! The metrics page, INFO's layout against a real redis-server, and SLOWLOG.

mod common;
use common::metrics::{http, move_metrics, number, scrape, value, MoveMetrics};
use common::*;
use prometheus_parse::{Scrape, Value};
use std::collections::BTreeSet;

#[test]
fn metrics_page_reflects_a_known_workload() {
    let server = Server::start();
    let mut con = server.client();
    for i in 0..25 {
        q(&mut con, &["SET", &format!("k{i}"), "v"]);
    }
    for i in 0..10 {
        q(&mut con, &["GET", &format!("k{i}")]);
    }
    q(&mut con, &["EXPIRE", "k0", "100"]);
    let mut raw = server.raw();
    for _ in 0..3 {
        error(&mut raw, &["LPUSH", "k1", "x"]);
    }
    let page = scrape(server.port);
    let set = [("command", "set")];
    assert_eq!(
        number(value(&page, "redrock_commands_processed_total", &set)),
        25.0
    );
    assert_eq!(
        number(value(
            &page,
            "redrock_commands_processed_total",
            &[("command", "get")]
        )),
        10.0
    );
    assert_eq!(
        number(value(
            &page,
            "redrock_commands_failed_total",
            &[("command", "lpush"), ("error", "WRONGTYPE")]
        )),
        3.0
    );
    assert_eq!(number(value(&page, "redrock_keys", &[("db", "0")])), 25.0);
    assert_eq!(
        number(value(&page, "redrock_keys_with_expiry", &[("db", "0")])),
        1.0
    );
    assert_eq!(
        number(value(&page, "redrock_keyspace_hits_total", &[])),
        10.0
    );
    assert!(number(value(&page, "redrock_connected_clients", &[])) >= 2.0);
    assert!(number(value(&page, "redrock_process_resident_memory_bytes", &[])) > 0.0);
    assert!(
        number(value(
            &page,
            "redrock_rocksdb_block_cache_capacity_bytes",
            &[]
        )) > 0.0
    );
    assert_eq!(number(value(&page, "redrock_cluster_enabled", &[])), 0.0);
    // Slot move series are there outside cluster mode too, at rest.
    for side in ["migration", "import"] {
        assert_eq!(move_metrics(&server, side), MoveMetrics::none());
    }
    assert_eq!(
        number(value(
            &page,
            "redrock_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        )),
        1.0
    );
    // The latency histogram has every SET in its +Inf bucket, in order.
    let Some(Value::Histogram(buckets)) = value(&page, "redrock_command_duration_seconds", &set)
    else {
        panic!("no SET histogram")
    };
    assert_eq!(buckets.last().unwrap().count, 25.0);
    assert!(buckets.last().unwrap().less_than.is_infinite());
    assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count));
    assert!(
        page.docs.contains_key("redrock_commands_processed_total"),
        "HELP texts"
    );
    // RESETSTAT clears INFO, never a Prometheus counter.
    q(&mut con, &["CONFIG", "RESETSTAT"]);
    let page = scrape(server.port);
    assert_eq!(
        number(value(&page, "redrock_commands_processed_total", &set)),
        25.0
    );
}

#[test]
fn http_other_than_get_metrics_is_refused_and_resp_is_untouched() {
    let server = Server::start_with(&["--metrics-port", &free_port().to_string()]);
    let (status, _) = http(server.port, "GET / HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let (status, _) = http(
        server.port,
        "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    let (status, body) = http(server.port, "HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", ""));
    let mut raw = server.raw();
    assert_eq!(raw.command(&["PING"]), b"+PONG\r\n");
    let mut inline = server.raw();
    inline.send(b"GET foo\r\n");
    assert_eq!(inline.read_reply(), b"$-1\r\n");
    let config = String::from_utf8(raw.command(&["CONFIG", "GET", "metrics-port"])).unwrap();
    let port: u16 = config.lines().nth(4).unwrap().parse().unwrap();
    assert!(port > 0);
    let page = scrape(port);
    assert!(value(&page, "redrock_uptime_seconds", &[]).is_some());
}

/// Field names of each section of an INFO reply.
fn sections(info: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut out: Vec<(String, BTreeSet<String>)> = Vec::new();
    for line in info.lines() {
        if let Some(name) = line.strip_prefix("# ") {
            out.push((name.to_string(), BTreeSet::new()));
        } else if let Some((field, _)) = line.split_once(':') {
            out.last_mut()
                .expect("a section")
                .1
                .insert(field.to_string());
        }
    }
    out
}

#[test]
fn info_uses_redis_section_and_field_names() {
    let server = Server::start();
    let redis = RedisServer::start();
    let mut con = server.client();
    let mut oracle = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
    for c in [&mut con, &mut oracle] {
        q(c, &["SET", "a", "1"]);
        let _ = redis::cmd("LPUSH")
            .arg("a")
            .arg("x")
            .query::<redis::Value>(c);
    }
    let ours: String = redis::cmd("INFO")
        .arg("everything")
        .query(&mut con)
        .unwrap();
    let theirs: String = redis::cmd("INFO")
        .arg("everything")
        .query(&mut oracle)
        .unwrap();
    let ours = sections(&ours);
    let theirs = sections(&theirs);
    let names =
        |s: &[(String, BTreeSet<String>)]| s.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    // Redis's sections in Redis's order, then RedRock's own.
    assert_eq!(names(&ours)[..names(&theirs).len()], names(&theirs)[..]);
    assert_eq!(names(&ours).last().unwrap(), "RocksDB");
    for (name, fields) in &ours {
        let Some((_, redis_fields)) = theirs.iter().find(|(n, _)| n == name) else {
            continue;
        };
        for field in fields {
            let own = field.starts_with("redrock_") || field.starts_with("rocksdb_");
            let per_command = ["cmdstat_", "errorstat_", "latency_percentiles_usec_", "db"]
                .iter()
                .any(|p| field.starts_with(p));
            assert!(
                own || per_command || redis_fields.contains(field),
                "INFO {name} has {field}, which Redis does not"
            );
        }
    }
    // The fields clients and exporters read most.
    let all: BTreeSet<&String> = ours.iter().flat_map(|(_, f)| f).collect();
    for field in [
        "redis_version",
        "redis_mode",
        "process_id",
        "run_id",
        "tcp_port",
        "uptime_in_seconds",
        "connected_clients",
        "blocked_clients",
        "maxclients",
        "used_memory",
        "used_memory_rss",
        "used_memory_peak",
        "maxmemory",
        "loading",
        "rdb_last_save_time",
        "aof_enabled",
        "total_connections_received",
        "total_commands_processed",
        "instantaneous_ops_per_sec",
        "total_net_input_bytes",
        "total_net_output_bytes",
        "rejected_connections",
        "expired_keys",
        "evicted_keys",
        "keyspace_hits",
        "keyspace_misses",
        "total_error_replies",
        "role",
        "connected_slaves",
        "master_repl_offset",
        "used_cpu_sys",
        "used_cpu_user",
        "cluster_enabled",
        "cmdstat_set",
        "errorstat_WRONGTYPE",
        "latency_percentiles_usec_set",
        "db0",
    ] {
        assert!(all.contains(&field.to_string()), "INFO lacks {field}");
    }
    // Section selection as in Redis.
    let default: String = redis::cmd("INFO").query(&mut con).unwrap();
    assert!(!default.contains("# Commandstats") && !default.contains("# Latencystats"));
    assert!(default.contains("# Keyspace") && default.contains("# Server"));
    let two: String = redis::cmd("INFO")
        .arg("CLIENTS")
        .arg("stats")
        .query(&mut con)
        .unwrap();
    assert_eq!(names(&sections(&two)), ["Clients", "Stats"]);
    let latency: String = redis::cmd("INFO")
        .arg("latencystats")
        .query(&mut con)
        .unwrap();
    let line = latency
        .lines()
        .find(|l| l.starts_with("latency_percentiles_usec_set:"))
        .unwrap();
    let values = line.split_once(':').unwrap().1;
    let keys: Vec<&str> = values
        .split(',')
        .map(|kv| kv.split('=').next().unwrap())
        .collect();
    assert_eq!(keys, ["p50", "p99", "p99.9"]);
    assert!(values
        .split(',')
        .all(|kv| kv.split('=').nth(1).unwrap().parse::<f64>().is_ok()));
    let nothing: String = redis::cmd("INFO")
        .arg("nosuchsection")
        .query(&mut con)
        .unwrap();
    assert_eq!(nothing, "");
}

#[test]
fn slowlog_records_what_runs_longer_than_the_threshold() {
    let server = Server::start_with(&["--requirepass", "pw"]);
    let mut raw = server.raw();
    raw.command(&["AUTH", "pw"]);
    raw.command(&["CLIENT", "SETNAME", "tester"]);
    assert_eq!(raw.command(&["SLOWLOG", "LEN"]), b":0\r\n");
    raw.command(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    raw.command(&["AUTH", "pw"]);
    let long = "x".repeat(200);
    raw.command(&["SET", "key", &long]);
    let mut many = vec!["MSET"];
    let pairs: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
    for k in &pairs {
        many.push(k);
        many.push("v");
    }
    raw.command(&many);
    let entries = String::from_utf8(raw.command(&["SLOWLOG", "GET", "2"])).unwrap();
    let lines: Vec<&str> = entries.split("\r\n").collect();
    // The newest first: MSET, cut to 32 arguments, the last one a note.
    assert_eq!(lines[0], "*2");
    assert_eq!(lines[1], "*6");
    assert!(lines.contains(&"... (10 more arguments)"), "{entries}");
    assert!(
        entries.contains(&format!("{}... (72 more bytes)", &long[..128])),
        "{entries}"
    );
    assert!(entries.contains("tester"));
    assert!(
        !entries.contains("pw\r\n"),
        "AUTH is never logged: {entries}"
    );
    let len: String = String::from_utf8(raw.command(&["SLOWLOG", "LEN"])).unwrap();
    assert!(len.starts_with(':') && len.trim_end()[1..].parse::<i64>().unwrap() >= 3);
    raw.command(&["CONFIG", "SET", "slowlog-max-len", "2"]);
    raw.command(&["PING"]);
    assert_eq!(raw.command(&["SLOWLOG", "LEN"]), b":2\r\n");
    assert_eq!(raw.command(&["SLOWLOG", "RESET"]), b"+OK\r\n");
    raw.command(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    raw.command(&["PING"]);
    // Only the RESET itself, logged after it ran, as Redis does.
    assert_eq!(raw.command(&["SLOWLOG", "LEN"]), b":1\r\n");
    assert_eq!(
        error(&mut raw, &["SLOWLOG", "GET", "-2"]),
        "ERR count should be greater than or equal to -1"
    );
    assert!(raw
        .command(&["SLOWLOG", "GET", "-1"])
        .starts_with(b"*1\r\n"));
}

fn info_field(server: &Server, section: &str, field: &str) -> String {
    let mut con = server.client();
    let text: String = redis::cmd("INFO").arg(section).query(&mut con).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("INFO {section} lacks {field}"))
        .trim()
        .to_string()
}

fn info_number(server: &Server, section: &str, field: &str) -> f64 {
    info_field(server, section, field).parse().unwrap()
}

/// Polls `check` until it holds, for at most 30 s.
fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A replica of `master`, synced: its link is up and it has every write.
fn synced_replica(master: &Server) -> Server {
    let replica = Server::start_with(&["--replicaof", &format!("127.0.0.1 {}", master.port)]);
    wait_until("the replica syncs", || {
        info_field(&replica, "replication", "master_link_status") == "up"
            && info_field(&replica, "replication", "slave_repl_offset")
                == info_field(master, "replication", "master_repl_offset")
    });
    replica
}

fn signal(server: &Server, signal: i32) {
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(server.child.id() as i32, signal);
    }
}

/// The role series of a scraped page: 1 for `role`, 0 for the other.
fn assert_role(page: &Scrape, role: &str) {
    for candidate in ["master", "replica"] {
        let expected = if candidate == role { 1.0 } else { 0.0 };
        assert_eq!(
            number(value(
                page,
                "redrock_replication_role",
                &[("role", candidate)]
            )),
            expected,
            "role {candidate}"
        );
    }
}

#[test]
fn replication_metrics_follow_a_replica_from_its_sync_to_its_end() {
    let master = Server::start();
    let mut con = master.client();
    for i in 0..50 {
        q(&mut con, &["SET", &format!("k{i}"), "v"]);
    }
    let mut replica = synced_replica(&master);
    let addr = format!("127.0.0.1:{}", replica.port);
    let per_replica = [("addr", addr.as_str())];
    for i in 0..20 {
        q(&mut con, &["SET", &format!("later{i}"), "v"]);
    }
    wait_until("the replica acknowledges the later writes", || {
        number(value(
            &scrape(master.port),
            "redrock_replication_replica_lag_sequences",
            &per_replica,
        )) == 0.0
    });

    let page = scrape(master.port);
    let offset = number(value(&page, "redrock_replication_offset", &[]));
    assert_eq!(
        offset,
        info_number(&master, "replication", "master_repl_offset")
    );
    assert_role(&page, "master");
    assert_eq!(
        number(value(&page, "redrock_replication_connected_replicas", &[])),
        1.0
    );
    for (metric, expected) in [
        ("redrock_replication_replica_online", 1.0),
        ("redrock_replication_replica_offset", offset),
        ("redrock_replication_replica_lag_sequences", 0.0),
        ("redrock_replication_replica_lag_seconds", 0.0),
    ] {
        assert_eq!(
            number(value(&page, metric, &per_replica)),
            expected,
            "{metric}"
        );
    }
    assert!(value(
        &page,
        "redrock_replication_replica_last_ack_seconds",
        &per_replica
    )
    .is_some());
    let side = |s| [("side", s)];
    // One full sync (the replica was new); continuing from the WAL right
    // after it is part of that sync, not a partial one, as in Redis.
    for (metric, labels, expected) in [
        ("redrock_replication_full_syncs_total", side("master"), 1.0),
        (
            "redrock_replication_full_syncs_failed_total",
            side("master"),
            0.0,
        ),
        ("redrock_replication_full_syncs_total", side("replica"), 0.0),
        (
            "redrock_replication_partial_syncs_total",
            [("result", "ok")],
            0.0,
        ),
        (
            "redrock_replication_partial_syncs_total",
            [("result", "err")],
            0.0,
        ),
    ] {
        assert_eq!(
            number(value(&page, metric, &labels)),
            expected,
            "{metric} {labels:?}"
        );
    }
    assert!(value(&page, "redrock_replication_master_link_up", &[]).is_none());
    let sent = number(value(&page, "redrock_replication_sent_bytes_total", &[]));
    assert!(sent > 0.0);
    assert_eq!(
        sent,
        info_number(&master, "stats", "total_net_repl_output_bytes")
    );
    assert_eq!(info_number(&master, "stats", "sync_full"), 1.0);
    assert_eq!(info_number(&master, "stats", "sync_partial_ok"), 0.0);

    let page = scrape(replica.port);
    assert_eq!(
        number(value(&page, "redrock_replication_offset", &[])),
        offset
    );
    assert_role(&page, "replica");
    assert_eq!(
        number(value(&page, "redrock_replication_master_link_up", &[])),
        1.0
    );
    assert_eq!(
        number(value(
            &page,
            "redrock_replication_master_sync_in_progress",
            &[]
        )),
        0.0
    );
    assert!(value(&page, "redrock_replication_master_last_io_seconds", &[]).is_some());
    assert_eq!(
        number(value(&page, "redrock_replication_connected_replicas", &[])),
        0.0
    );
    assert_eq!(
        number(value(
            &page,
            "redrock_replication_full_syncs_total",
            &side("replica")
        )),
        1.0
    );
    assert_eq!(
        number(value(
            &page,
            "redrock_replication_full_syncs_failed_total",
            &side("replica")
        )),
        0.0
    );
    let received = number(value(
        &page,
        "redrock_replication_received_bytes_total",
        &[],
    ));
    assert!(received > 0.0);
    assert_eq!(
        received,
        info_number(&replica, "stats", "total_net_repl_input_bytes")
    );

    // A stalled replica lags in sequence numbers and in seconds: no more
    // than the time since the first write it lacks.
    signal(&replica, libc::SIGSTOP);
    wait_until("the replica stops", || {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", replica.child.id())).unwrap();
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('T'))
    });
    let before_writes = std::time::Instant::now();
    for i in 0..10 {
        q(&mut con, &["SET", &format!("unseen{i}"), "v"]);
    }
    let latest = info_number(&master, "replication", "master_repl_offset");
    let mut page = scrape(master.port);
    wait_until("the master samples the time of the writes", || {
        page = scrape(master.port);
        number(value(
            &page,
            "redrock_replication_replica_lag_seconds",
            &per_replica,
        )) > 0.0
    });
    let lag_seconds = number(value(
        &page,
        "redrock_replication_replica_lag_seconds",
        &per_replica,
    ));
    assert!(lag_seconds <= before_writes.elapsed().as_secs_f64());
    assert_eq!(
        number(value(
            &page,
            "redrock_replication_replica_lag_sequences",
            &per_replica
        )),
        latest - offset
    );
    signal(&replica, libc::SIGCONT);
    wait_until("the replica catches up", || {
        number(value(
            &scrape(master.port),
            "redrock_replication_replica_lag_sequences",
            &per_replica,
        )) == 0.0
    });
    let page = scrape(master.port);
    assert_eq!(
        number(value(
            &page,
            "redrock_replication_replica_lag_seconds",
            &per_replica
        )),
        0.0
    );
    assert_eq!(
        number(value(
            &scrape(replica.port),
            "redrock_replication_offset",
            &[]
        )),
        latest
    );

    // Once the replica is gone, so are its series.
    replica.kill9();
    wait_until("the master sees the replica go", || {
        number(value(
            &scrape(master.port),
            "redrock_replication_connected_replicas",
            &[],
        )) == 0.0
    });
    let page = scrape(master.port);
    for metric in [
        "redrock_replication_replica_online",
        "redrock_replication_replica_offset",
        "redrock_replication_replica_lag_sequences",
        "redrock_replication_replica_lag_seconds",
    ] {
        assert!(
            value(&page, metric, &per_replica).is_none(),
            "{metric} stays"
        );
    }
}

#[test]
fn a_promoted_replica_drops_its_master_link_series_and_resetstat_clears_info_only() {
    let master = Server::start();
    q(&mut master.client(), &["SET", "k", "v"]);
    let replica = synced_replica(&master);
    assert_eq!(
        number(value(
            &scrape(replica.port),
            "redrock_replication_master_link_up",
            &[]
        )),
        1.0
    );
    q(&mut replica.client(), &["REPLICAOF", "NO", "ONE"]);
    let page = scrape(replica.port);
    assert_eq!(
        number(value(
            &page,
            "redrock_replication_role",
            &[("role", "master")]
        )),
        1.0
    );
    for metric in [
        "redrock_replication_master_link_up",
        "redrock_replication_master_last_io_seconds",
        "redrock_replication_master_sync_in_progress",
    ] {
        assert!(value(&page, metric, &[]).is_none(), "{metric} stays");
    }
    q(&mut master.client(), &["CONFIG", "RESETSTAT"]);
    assert_eq!(info_number(&master, "stats", "sync_full"), 0.0);
    assert_eq!(
        info_number(&master, "stats", "total_net_repl_output_bytes"),
        0.0
    );
    assert_eq!(
        number(value(
            &scrape(master.port),
            "redrock_replication_full_syncs_total",
            &[("side", "master")]
        )),
        1.0
    );
}
