//! Test support: start the real `redrock-server` (and, for differential
//! tests, a real `redis-server`) on free loopback ports with temporary data
//! directories, wait for them with a bound, and stop them on drop.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod metrics;
pub mod replication;

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding an ephemeral port")
}

/// Runs the `redrock` admin tool; returns whether it succeeded and what it
/// printed (stdout then stderr).
pub fn tool(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_redrock"))
        .args(args)
        .output()
        .expect("running redrock");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The `redrock-server` binary built for this test run.
pub fn server_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_redrock-server"))
}

/// A running server process, killed on drop.
pub struct Server {
    pub port: u16,
    pub child: Child,
    pub dir: PathBuf,
    _tempdir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts RedRock on a free port with a new temporary data dir.
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    /// Starts RedRock with extra `--directive value` arguments.
    pub fn start_with(extra: &[&str]) -> Server {
        let tempdir = tempfile::tempdir().expect("temp dir");
        let dir = tempdir.path().to_path_buf();
        let mut server = Self::start_in(&dir, extra);
        server._tempdir = Some(tempdir);
        server
    }

    /// Starts RedRock on `dir` (which the caller keeps). A free port can be
    /// taken by another test between its choice and the bind; the start is
    /// then retried on another port.
    pub fn start_in(dir: &Path, extra: &[&str]) -> Server {
        Self::start_on(dir, None, extra)
    }

    /// Stops the server (SIGTERM) and starts it again on the same port and
    /// data dir with the same extra arguments.
    pub fn restart(&mut self, extra: &[&str]) {
        self.terminate();
        let tempdir = self._tempdir.take();
        *self = Self::start_on(&self.dir.clone(), Some(self.port), extra);
        self._tempdir = tempdir;
    }

    fn start_on(dir: &Path, fixed_port: Option<u16>, extra: &[&str]) -> Server {
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = fixed_port.unwrap_or_else(free_port);
            let port_text = port.to_string();
            let dir_text = dir.to_str().expect("utf-8 temp path");
            let mut args = vec![
                "--bind",
                "127.0.0.1",
                "--port",
                &port_text,
                "--dir",
                dir_text,
            ];
            args.extend_from_slice(extra);
            let child = Command::new(server_binary())
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("starting redrock-server");
            let mut server = Server {
                port,
                child,
                dir: dir.to_path_buf(),
                _tempdir: None,
            };
            match server.wait_ready() {
                Ok(()) => return server,
                Err(e) if e.contains("cannot listen") => {
                    last_error = e;
                    // The port may still be closing after a restart.
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("redrock-server could not find a free port: {last_error}");
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("polling the server") {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return Err(format!("redrock-server exited early ({status}): {stderr}"));
            }
            if let Ok(mut raw) = RawClient::try_connect(self.port) {
                if let Ok(reply) = raw.try_command(&["PING"]) {
                    if reply.starts_with(b"+PONG") || reply.starts_with(b"-NOAUTH") {
                        return Ok(());
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("redrock-server did not answer within 30s".into())
    }

    /// The address in `redis://` form.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A synchronous `redis` crate connection.
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .expect("client")
            .get_connection()
            .expect("connecting")
    }

    /// A raw RESP connection.
    pub fn raw(&self) -> RawClient {
        RawClient::connect(self.port)
    }

    /// Kills the process with SIGKILL and waits for it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits (bounded) for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        terminate(&mut self.child)
    }
}

/// Sends SIGTERM to a child and waits (bounded) for its exit; a child that
/// already exited (killed before) is not signalled: its pid may be reused.
pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    if let Some(status) = child.try_wait().expect("polling child") {
        return status;
    }
    // SAFETY: sending a signal to our own child process, still running.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    wait_exit(child, Duration::from_secs(30))
}

/// Waits for a child to exit, killing it if it overstays.
pub fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("polling child") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real redis-server, the oracle of the differential tests.
pub struct RedisServer {
    pub port: u16,
    pub child: Child,
    extra: Vec<String>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// Starts redis-server with extra `--directive value` arguments.
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let extra: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        let child = Self::spawn(port, dir.path(), &extra);
        let server = RedisServer {
            port,
            child,
            extra,
            dir,
        };
        server.wait_ready();
        server
    }

    fn spawn(port: u16, dir: &Path, extra: &[String]) -> Child {
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                dir.to_str().expect("utf-8"),
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed for differential tests (apt-get install redis-server)")
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(mut raw) = RawClient::try_connect(self.port) {
                if raw
                    .try_command(&["PING"])
                    .is_ok_and(|r| r.starts_with(b"+PONG"))
                {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not answer within 30s");
    }

    pub fn raw(&self) -> RawClient {
        RawClient::connect(self.port)
    }

    /// Kills the process with SIGKILL and waits for it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits (bounded) for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        terminate(&mut self.child)
    }

    /// Stops the server (SIGTERM, unless it is stopped already) and starts
    /// it again on the same port and directory with the same arguments.
    pub fn restart(&mut self) {
        self.terminate();
        self.child = Self::spawn(self.port, self.dir.path(), &self.extra);
        self.wait_ready();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (bounded) until INFO reports `n` blocked clients.
pub fn wait_blocked(con: &mut redis::Connection, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info: String = redis::cmd("INFO").arg("clients").query(con).unwrap();
        if info.contains(&format!("blocked_clients:{n}\r\n")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never saw {n} blocked clients: {info}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A field of a node's CLUSTER INFO, if it has it.
pub fn cluster_info(server: &Server, field: &str) -> Option<String> {
    let text: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query(&mut server.client())
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(str::to_string)
}

/// RocksDB's estimate of the sub-keys stored (INFO rocksdb), which falls
/// as compaction collects deleted members.
pub fn estimated_subkeys(con: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("rocksdb").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("estimate_keys[subkey]:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// A RESP client that returns each reply's exact bytes, so replies of two
/// servers can be compared byte for byte.
pub struct RawClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl RawClient {
    pub fn connect(port: u16) -> RawClient {
        Self::try_connect(port).expect("connecting")
    }

    pub fn try_connect(port: u16) -> std::io::Result<RawClient> {
        Self::over(TcpStream::connect(("127.0.0.1", port))?)
    }

    /// Speaks RESP over a stream already open: either end, since a request
    /// reads as a reply does (a test playing a server reads requests).
    pub fn over(stream: TcpStream) -> std::io::Result<RawClient> {
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_nodelay(true)?;
        Ok(RawClient {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    /// Encodes a command as a RESP array of bulk strings.
    pub fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            let arg = arg.as_ref();
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// Sends one command and returns its reply's bytes.
    pub fn command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Vec<u8> {
        self.send(&Self::encode(args));
        self.read_reply()
    }

    /// Like `command`, with I/O failures returned instead of panicking
    /// (for probing a server that may not be up yet).
    pub fn try_command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> std::io::Result<Vec<u8>> {
        self.writer.write_all(&Self::encode(args))?;
        let mut line = Vec::new();
        if self.reader.read_until(b'\n', &mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line)
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("writing");
    }

    /// Reads one whole reply (nested aggregates included).
    pub fn read_reply(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.read_into(&mut out);
        out
    }

    /// Whether the server closed the connection (reads EOF).
    pub fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.reader.read(&mut buf), Ok(0))
    }

    fn read_into(&mut self, out: &mut Vec<u8>) {
        let start = out.len();
        let n = self.reader.read_until(b'\n', out).expect("reading a reply");
        assert!(n > 0, "connection closed while waiting for a reply");
        let line = out[start..].to_vec();
        let header = std::str::from_utf8(&line[1..line.len() - 2]).unwrap_or("");
        match line[0] {
            b'$' | b'=' | b'!' => {
                let len: i64 = header.parse().expect("bulk length");
                if len >= 0 {
                    let mut body = vec![0u8; len as usize + 2];
                    self.reader.read_exact(&mut body).expect("reading bulk");
                    out.extend_from_slice(&body);
                }
            }
            b'*' | b'~' | b'>' => {
                let len: i64 = header.parse().expect("array length");
                for _ in 0..len.max(0) {
                    self.read_into(out);
                }
            }
            b'%' => {
                let len: i64 = header.parse().expect("map length");
                for _ in 0..len.max(0) * 2 {
                    self.read_into(out);
                }
            }
            _ => {}
        }
    }
}

/// A reply's bytes as readable text for assertion messages.
pub fn show(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).replace("\r\n", "\\r\\n")
}

/// Runs a command with the `redis` crate and returns its value.
pub fn q(con: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(con)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// Runs a command that must fail and returns the error reply's text.
pub fn error(raw: &mut RawClient, args: &[&str]) -> String {
    let reply = raw.command(args);
    assert_eq!(
        reply.first(),
        Some(&b'-'),
        "{args:?} should fail, got {}",
        show(&reply)
    );
    String::from_utf8_lossy(&reply[1..reply.len() - 2]).into_owned()
}

/// Shorthands for expected values.
pub fn bulk(s: &str) -> redis::Value {
    redis::Value::BulkString(s.as_bytes().to_vec())
}

pub fn int(n: i64) -> redis::Value {
    redis::Value::Int(n)
}

pub fn ok() -> redis::Value {
    redis::Value::Okay
}

pub fn nil() -> redis::Value {
    redis::Value::Nil
}

pub fn array(items: Vec<redis::Value>) -> redis::Value {
    redis::Value::Array(items)
}

/// A TCP connection to `127.0.0.1:port` from the local address `source`
/// (another loopback address such as 127.0.0.2, which Redis's protected
/// mode does not count as local).
pub fn connect_from(source: &str, port: u16) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a runtime to connect with");
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(format!("{source}:0").parse().expect("source address"))
            .expect("binding the source address");
        socket
            .connect(([127, 0, 0, 1], port).into())
            .await
            .expect("connecting")
            .into_std()
            .expect("a std stream")
    });
    stream.set_nonblocking(false).expect("blocking mode");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    stream
}

/// Reads until the server closes the connection (EOF or reset), waiting
/// at most 30 s: everything it sent first.
pub fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let mut out = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!(
                "the server did not close the connection ({e}); it sent {}",
                show(&out)
            ),
        }
    }
}

/// Starts `redrock-server` with `args`, expecting it to refuse to start:
/// its standard error.
pub fn start_failure(args: &[&str]) -> String {
    let mut child = Command::new(server_binary())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert!(!status.success(), "{args:?} should not start");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}
