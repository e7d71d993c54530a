//! What a deployment relies on: kvrocks.conf.example, the container image's
//! contract (checked without a container engine), and BGSAVE backups.

mod common;
use common::*;
use redrock::config::{Config, DIRECTIVES};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `name value` lines of a kvrocks.conf-style file, quotes removed.
fn directives_of(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, value) = l.split_once(' ').unwrap_or((l, ""));
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            (name.to_string(), value.to_string())
        })
        .collect()
}

#[test]
fn kvrocks_conf_example_documents_every_directive_and_its_default() {
    let example = directives_of(&read("kvrocks.conf.example"));
    let defaults = Config::default();
    let table: BTreeMap<String, String> = DIRECTIVES
        .iter()
        .map(|d| (d.name.to_string(), d.default.to_string()))
        .collect();
    assert_eq!(example, table, "the example and the directive table differ");
    for d in DIRECTIVES {
        assert_eq!(
            (d.get)(&defaults),
            d.default,
            "{}'s documented default",
            d.name
        );
    }
    // The server starts on the file unchanged (port and dir are given on
    // the command line so the test runs anywhere) and CONFIG GET * lists
    // the same directives with the same values.
    let path = repo("kvrocks.conf.example");
    let server = Server::start_with(&["-c", path.to_str().unwrap()]);
    let mut con = server.client();
    let all: BTreeMap<String, String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("*")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        all.keys().collect::<Vec<_>>(),
        table.keys().collect::<Vec<_>>(),
        "CONFIG GET * and the directive table differ"
    );
    for (name, value) in &all {
        if !["port", "dir", "bind"].contains(&name.as_str()) {
            assert_eq!(value, &table[name], "CONFIG GET {name}");
        }
    }
}

#[test]
fn rocksdb_directives_reach_the_database_options() {
    let mut server = Server::start_with(&[
        "--rocksdb.block_size",
        "8192",
        "--rocksdb.max_total_wal_size",
        "100",
    ]);
    let options_file = std::fs::read_dir(server.dir.join("db"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("OPTIONS-")
        })
        .max()
        .expect("RocksDB writes an OPTIONS file");
    let options = std::fs::read_to_string(options_file).unwrap();
    let lines: Vec<&str> = options.lines().map(str::trim).collect();
    assert!(lines.contains(&"max_total_wal_size=104857600"), "{options}");
    let block_sizes: Vec<_> = lines
        .iter()
        .filter(|l| l.starts_with("block_size="))
        .collect();
    // One table per column family, each with the configured block.
    assert!(block_sizes.len() >= 5, "{options}");
    assert!(
        block_sizes.iter().all(|l| **l == "block_size=8192"),
        "{options}"
    );
    server.terminate();
}

#[test]
fn a_kvrocks_conf_with_unimplemented_directives_starts_with_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("kvrocks.conf");
    std::fs::write(
        &conf,
        "port 6666\nmax-io-mb 10\nnamespace.tenant token\nrocksdb.max_subcompactions 2\n\
         master-use-repl-port no\nworkers 2\n",
    )
    .unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut server = Server::start_with(&[
        "-c",
        conf.to_str().unwrap(),
        "--log-dir",
        logs.to_str().unwrap(),
    ]);
    assert_eq!(
        q(&mut server.client(), &["PING"]),
        redis::Value::SimpleString("PONG".into())
    );
    server.terminate();
    let log = std::fs::read_to_string(logs.join("redrock.log")).unwrap();
    for name in [
        "max-io-mb",
        "namespace.tenant",
        "rocksdb.max_subcompactions",
        "master-use-repl-port",
    ] {
        assert!(
            log.contains(&format!("'{name}' is not implemented by RedRock: ignored")),
            "no warning for {name}: {log}"
        );
    }
    for fact in [
        "RedRock ",
        "config file ",
        "data in ",
        "listening on ",
        "standalone mode",
    ] {
        assert!(log.contains(fact), "no start-up line with {fact:?}: {log}");
    }
    // A directive nobody knows is still a mistake worth stopping for.
    std::fs::write(&conf, "port 6666\nmax-clients 10\n").unwrap();
    let out = Command::new(server_binary())
        .args([
            "-c",
            conf.to_str().unwrap(),
            "--port",
            &free_port().to_string(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("kvrocks.conf:2: directive 'max-clients': unknown directive"),
        "{stderr}"
    );
}

/// The JSON array of a Dockerfile instruction such as `CMD [...]`.
fn exec_form(dockerfile: &str, instruction: &str) -> Vec<String> {
    let line = dockerfile
        .lines()
        .find(|l| l.starts_with(instruction))
        .unwrap_or_else(|| panic!("no {instruction} line"));
    let json = &line[line.find('[').expect("exec form")..];
    json.trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .collect()
}

#[test]
fn container_image_contract_holds_without_a_container_engine() {
    let dockerfile = read("Dockerfile");
    // Multi-stage: a builder running the build CI runs, a slim runtime.
    assert_eq!(
        dockerfile
            .lines()
            .filter(|l| l.starts_with("FROM "))
            .count(),
        2
    );
    assert!(dockerfile.contains("RUN deploy/build-release.sh"));
    assert!(read(".ci/run").contains("deploy/build-release.sh"));
    assert!(read("deploy/build-release.sh").contains("cargo build --release --locked --bins"));
    assert!(read(".dockerignore").lines().any(|l| l.trim() == "target"));
    for line in [
        "USER redrock",
        "VOLUME /var/lib/redrock",
        "EXPOSE 6666",
        "COPY kvrocks.conf.example /etc/redrock/redrock.conf",
        "COPY deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh",
    ] {
        assert!(
            dockerfile.lines().any(|l| l == line),
            "Dockerfile lacks {line:?}"
        );
    }
    let entrypoint = exec_form(&dockerfile, "ENTRYPOINT");
    assert_eq!(entrypoint, ["docker-entrypoint.sh"]);
    let mut image = ImageRun::start(&dockerfile, Some("s3cret"));
    let port = image.port;
    let mut raw = RawClient::connect(port);
    assert!(
        raw.command(&["PING"]).starts_with(b"-NOAUTH"),
        "REDROCK_PASSWORD is requirepass"
    );
    assert_eq!(raw.command(&["AUTH", "s3cret"]), b"+OK\r\n");
    // ... given through a private file, never the command line, where any
    // local user could read it.
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", image.child.id())).unwrap();
    assert!(
        cmdline.starts_with(b"redrock-server\0"),
        "{}",
        String::from_utf8_lossy(&cmdline)
    );
    assert!(
        !cmdline.windows(6).any(|w| w == b"s3cret"),
        "the password is on the command line: {}",
        String::from_utf8_lossy(&cmdline)
    );
    let bin_dir = server_binary().parent().unwrap().to_path_buf();
    // The health check, with the password the container's environment gives it.
    let health = exec_form(&dockerfile, "HEALTHCHECK");
    assert_eq!(health, ["redrock", "ping"]);
    let addr = format!("127.0.0.1:{port}");
    let run_health = |password: Option<&str>| {
        let mut check = Command::new(bin_dir.join(&health[0]));
        check
            .args(&health[1..])
            .arg(&addr)
            .env_remove("REDROCK_PASSWORD");
        if let Some(p) = password {
            check.env("REDROCK_PASSWORD", p);
        }
        check.output().unwrap().status.success()
    };
    assert!(run_health(Some("s3cret")));
    assert!(
        !run_health(None),
        "a health check without the password must fail"
    );
    unsafe {
        libc::kill(image.child.id() as i32, libc::SIGTERM);
    }
    assert!(wait_exit(&mut image.child, Duration::from_secs(30)).success());
    assert!(!run_health(Some("s3cret")), "a stopped server is unhealthy");
}

/// The runtime stage's command line run here: the entry point with CMD,
/// the container paths mapped to this checkout and a temp dir, and a free
/// loopback port instead of 0.0.0.0:6666.
struct ImageRun {
    child: std::process::Child,
    port: u16,
    _data: tempfile::TempDir,
}

impl ImageRun {
    fn start(dockerfile: &str, password: Option<&str>) -> ImageRun {
        let cmd = exec_form(dockerfile, "CMD");
        let data = tempfile::tempdir().unwrap();
        let conf = repo("kvrocks.conf.example");
        let mapped: Vec<String> = cmd
            .iter()
            .map(|arg| match arg.as_str() {
                "/etc/redrock/redrock.conf" => conf.to_str().unwrap().to_string(),
                "/var/lib/redrock" => data.path().to_str().unwrap().to_string(),
                other => other.to_string(),
            })
            .collect();
        let port = free_port();
        let bin_dir = server_binary().parent().unwrap().to_path_buf();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = Command::new(repo("deploy/docker-entrypoint.sh"));
        command
            .args(&mapped)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .env("PATH", &path)
            .env("TMPDIR", data.path())
            .env_remove("REDROCK_PASSWORD")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Some(password) = password {
            command.env("REDROCK_PASSWORD", password);
        }
        let child = command.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while RawClient::try_connect(port).is_err() {
            assert!(
                Instant::now() < deadline,
                "the image's command did not start a server"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        ImageRun {
            child,
            port,
            _data: data,
        }
    }
}

impl Drop for ImageRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_image_without_a_password_serves_loopback_clients_only() {
    let dockerfile = read("Dockerfile");
    let mut image = ImageRun::start(&dockerfile, None);
    // 127.0.0.1 is served; any other address, even 127.0.0.2, is refused
    // with Redis's protected-mode error.
    assert_eq!(
        RawClient::connect(image.port).command(&["PING"]),
        b"+PONG\r\n"
    );
    let denied = read_until_closed(&mut connect_from("127.0.0.2", image.port));
    assert!(
        denied.starts_with(b"-DENIED Redis is running in protected mode"),
        "{}",
        show(&denied)
    );
    unsafe {
        libc::kill(image.child.id() as i32, libc::SIGTERM);
    }
    assert!(wait_exit(&mut image.child, Duration::from_secs(30)).success());
}

fn wait_for_backup(con: &mut redis::Connection) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info: String = redis::cmd("INFO").arg("persistence").query(con).unwrap();
        if info.contains("rdb_bgsave_in_progress:0") && info.contains("rdb_saves:1") {
            assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
            return;
        }
        assert!(Instant::now() < deadline, "BGSAVE never finished: {info}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bgsave_makes_a_backup_a_server_restores_from() {
    let mut server = Server::start();
    let mut con = server.client();
    let before: i64 = redis::cmd("LASTSAVE").query(&mut con).unwrap();
    for i in 0..1000 {
        q(&mut con, &["SET", &format!("k{i}"), &i.to_string()]);
    }
    q(&mut con, &["HSET", "h", "f", "v"]);
    q(&mut con, &["ZADD", "z", "1", "a", "2", "b"]);
    q(&mut con, &["RPUSH", "l", "x", "y"]);
    assert_eq!(
        q(&mut con, &["BGSAVE"]),
        redis::Value::SimpleString("Background saving started".into())
    );
    wait_for_backup(&mut con);
    let after: i64 = redis::cmd("LASTSAVE").query(&mut con).unwrap();
    assert!(after >= before);
    // Written after the backup: must not be in it.
    q(&mut con, &["SET", "late", "1"]);
    q(&mut con, &["DEL", "k0"]);
    q(&mut con, &["HSET", "h", "g", "w"]);
    let backup = server.dir.join("backup");
    server.terminate();
    let restored = Server::start_in(&backup, &[]);
    let mut con = restored.client();
    assert_eq!(q(&mut con, &["DBSIZE"]), int(1003));
    assert_eq!(q(&mut con, &["GET", "k0"]), bulk("0"));
    assert_eq!(q(&mut con, &["GET", "k999"]), bulk("999"));
    assert_eq!(q(&mut con, &["EXISTS", "late"]), int(0));
    assert_eq!(q(&mut con, &["HLEN", "h"]), int(1));
    assert_eq!(q(&mut con, &["ZSCORE", "z", "b"]), bulk("2"));
    assert_eq!(
        q(&mut con, &["LRANGE", "l", "0", "-1"]),
        array(vec![bulk("x"), bulk("y")])
    );
    let mut raw = restored.raw();
    assert_eq!(error(&mut raw, &["BGSAVE", "NOW"]), "ERR syntax error");
}

#[test]
fn save_writes_the_backup_before_it_answers() {
    let mut server = Server::start();
    let mut con = server.client();
    for i in 0..500 {
        q(&mut con, &["SET", &format!("k{i}"), &i.to_string()]);
    }
    assert_eq!(q(&mut con, &["SAVE"]), ok());
    let info: String = redis::cmd("INFO")
        .arg("persistence")
        .query(&mut con)
        .unwrap();
    assert!(
        info.contains("rdb_saves:1") && info.contains("rdb_last_bgsave_status:ok"),
        "{info}"
    );
    let mut raw = server.raw();
    assert_eq!(
        error(&mut raw, &["SAVE", "now"]),
        "ERR wrong number of arguments for 'save' command"
    );
    raw.command(&["MULTI"]);
    assert_eq!(
        error(&mut raw, &["SAVE"]),
        "ERR Command not allowed inside a transaction"
    );
    raw.command(&["DISCARD"]);
    q(&mut con, &["SET", "late", "1"]);
    let backup = server.dir.join("backup");
    server.terminate();
    let restored = Server::start_in(&backup, &[]);
    let mut con = restored.client();
    assert_eq!(q(&mut con, &["DBSIZE"]), int(500));
    assert_eq!(q(&mut con, &["GET", "k499"]), bulk("499"));
}

#[test]
fn backup_dir_never_reaches_the_live_database() {
    let mut server = Server::start();
    let mut raw = server.raw();
    let data_dir = server.dir.to_str().unwrap().to_owned();
    let inside = format!("{data_dir}/db/backups");
    let parent = server.dir.parent().unwrap().to_str().unwrap().to_owned();
    for refused in [&data_dir, &inside, &parent] {
        let reply = error(&mut raw, &["CONFIG", "SET", "backup-dir", refused]);
        assert!(
            reply.starts_with(
                "ERR CONFIG SET failed (possibly related to argument 'backup-dir') - "
            ) && reply.contains("overlaps the live database"),
            "{refused}: {reply}"
        );
    }
    let mut con = server.client();
    assert_eq!(
        q(&mut con, &["CONFIG", "GET", "backup-dir"]),
        array(vec![bulk("backup-dir"), bulk("")]),
        "a refused value changes nothing"
    );
    // BGSAVE still works, and a write acknowledged after it survives.
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().to_str().unwrap();
    assert_eq!(q(&mut con, &["CONFIG", "SET", "backup-dir", target]), ok());
    q(&mut con, &["SET", "before", "1"]);
    q(&mut con, &["BGSAVE"]);
    wait_for_backup(&mut con);
    q(&mut con, &["SET", "after", "2"]);
    server.kill9();
    let dir = server.dir.clone();
    let restarted = Server::start_in(&dir, &[]);
    let mut con = restarted.client();
    assert_eq!(q(&mut con, &["GET", "before"]), bulk("1"));
    assert_eq!(q(&mut con, &["GET", "after"]), bulk("2"));
    let backup = Server::start_in(elsewhere.path(), &[]);
    let mut con = backup.client();
    assert_eq!(q(&mut con, &["GET", "before"]), bulk("1"));
    assert_eq!(q(&mut con, &["EXISTS", "after"]), int(0));
}

#[test]
fn a_backup_dir_on_the_database_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let port = free_port().to_string();
    let stderr = start_failure(&["--port", &port, "--dir", data_dir, "--backup-dir", data_dir]);
    assert!(
        stderr.contains("directive 'backup-dir'") && stderr.contains("overlaps the live database"),
        "{stderr}"
    );
}
