//! Durability and start-up: restarts, kill -9, two servers on one data
//! directory, and configuration errors.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn data_survives_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let mut con = server.client();
    q(&mut con, &["SET", "a", "1"]);
    q(&mut con, &["SET", "b", "2", "EX", "1000"]);
    q(&mut con, &["SELECT", "4"]);
    q(&mut con, &["SET", "c", "3"]);
    drop(con);
    assert!(server.terminate().success(), "SIGTERM exits cleanly");
    let server = Server::start_in(dir.path(), &[]);
    let mut con = server.client();
    assert_eq!(q(&mut con, &["GET", "a"]), bulk("1"));
    assert_eq!(q(&mut con, &["DBSIZE"]), int(2), "key counts are persisted");
    let ttl: i64 = redis::cmd("TTL").arg("b").query(&mut con).unwrap();
    assert!(ttl > 990);
    q(&mut con, &["SELECT", "4"]);
    assert_eq!(q(&mut con, &["GET", "c"]), bulk("3"));
    assert_eq!(q(&mut con, &["DBSIZE"]), int(1));
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    const N: usize = 5000;
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let mut con = server.client();
    // Single writes and a pipeline, all acknowledged before the kill.
    for i in 0..N / 2 {
        q(
            &mut con,
            &["SET", &format!("key:{i}"), &format!("value:{i}")],
        );
    }
    let mut pipe = redis::pipe();
    for i in N / 2..N {
        pipe.cmd("SET")
            .arg(format!("key:{i}"))
            .arg(format!("value:{i}"))
            .ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    q(&mut con, &["INCRBY", "counter", "42"]);
    server.kill9();
    let server = Server::start_in(dir.path(), &[]);
    let mut con = server.client();
    for i in 0..N {
        assert_eq!(
            q(&mut con, &["GET", &format!("key:{i}")]),
            bulk(&format!("value:{i}")),
            "key:{i} lost"
        );
    }
    assert_eq!(q(&mut con, &["GET", "counter"]), bulk("42"));
    assert_eq!(q(&mut con, &["DBSIZE"]), int(N as i64 + 1));
}

#[test]
fn synced_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &["--rocksdb.write_options.sync", "yes"]);
    let mut con = server.client();
    for i in 0..200 {
        q(&mut con, &["SET", &format!("k{i}"), "v"]);
    }
    server.kill9();
    let server = Server::start_in(dir.path(), &[]);
    assert_eq!(q(&mut server.client(), &["DBSIZE"]), int(200));
}

#[test]
fn a_second_server_on_the_same_dir_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Server::start_in(dir.path(), &[]);
    let output = Command::new(server_binary())
        .args([
            "--port",
            &free_port().to_string(),
            "--dir",
            dir.path().to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is in use by another RedRock server"),
        "{stderr}"
    );
}

#[test]
fn config_errors_name_file_line_and_directive() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("bad.conf");
    std::fs::write(&conf, "port 7000\n# fine\nmaxclients lots\n").unwrap();
    let conf = conf.to_str().unwrap();
    let stderr = start_failure(&["-c", conf]);
    assert!(
        stderr.contains(&format!(
            "{conf}:3: directive 'maxclients': bad value 'lots'"
        )),
        "{stderr}"
    );
    std::fs::write(dir.path().join("bad.conf"), "no-such-directive yes\n").unwrap();
    let stderr = start_failure(&["-c", conf]);
    assert!(
        stderr.contains(&format!(
            "{conf}:1: directive 'no-such-directive': unknown directive"
        )),
        "{stderr}"
    );
    let stderr = start_failure(&["--port", "99999"]);
    assert!(
        stderr.contains("command line: directive 'port'"),
        "{stderr}"
    );
    let stderr = start_failure(&["--port"]);
    assert!(stderr.contains("--port needs a value"), "{stderr}");
    let stderr = start_failure(&["-c", "/nonexistent/redrock.conf"]);
    assert!(
        stderr.contains("cannot read config file /nonexistent/redrock.conf"),
        "{stderr}"
    );
}

#[test]
fn starts_with_embedded_defaults() {
    // Only the port is given (tests use free ports); everything else is the
    // embedded default: bind 127.0.0.1 and ./redrock-data under the working
    // directory. The default port itself is checked by the config unit tests.
    let cwd = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(server_binary())
        .current_dir(cwd.path())
        .args(["--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut raw = loop {
        if let Ok(raw) = RawClient::try_connect(port) {
            break raw;
        }
        assert!(std::time::Instant::now() < deadline, "no answer on {port}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(raw.command(&["PING"]), b"+PONG\r\n");
    assert_eq!(
        show(&raw.command(&["CONFIG", "GET", "bind"])),
        "*2\\r\\n$4\\r\\nbind\\r\\n$9\\r\\n127.0.0.1\\r\\n"
    );
    assert!(cwd.path().join("redrock-data/db").is_dir());
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert!(wait_exit(&mut child, Duration::from_secs(30)).success());
    let mut stdout = String::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(
        stdout.contains(&format!("listening on 127.0.0.1:{port}")),
        "{stdout}"
    );
    assert!(stdout.contains("redrock-data/db"), "{stdout}");
}
