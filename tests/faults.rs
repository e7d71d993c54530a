//! Faults of the machine: a full disk (a small tmpfs filled for the test),
//! the `max-db-size` quota, and a RocksDB background error (an SST file
//! corrupted on disk and then compacted). Writes are refused with a reply
//! that explains, reads and INFO go on, nothing acknowledged is lost, and
//! after a full disk writes resume by themselves once space is freed.

mod common;
use common::*;
use rand::RngCore;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmpfs of a given size mounted for the test, unmounted on drop (also
/// when the test fails).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs, or `None` when not running as root (printed, so a
    /// skip is never silent). Any other failure to mount fails the test.
    fn mount(size: &str) -> Option<Tmpfs> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            println!("SKIPPED: mounting a tmpfs needs root; run the fault tests as root (CI does)");
            return None;
        }
        let dir = tempfile::tempdir().expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("running mount");
        assert!(status.success(), "mount -t tmpfs failed as root: {status}");
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Busy (a process still holds a file): detach it anyway.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

/// Random (incompressible) bytes as a value.
fn random_value(len: usize) -> Vec<u8> {
    let mut value = vec![0u8; len];
    rand::rng().fill_bytes(&mut value);
    value
}

/// Appends to `path` until the file system is full.
fn fill(path: &Path) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("creating the filler file");
    let chunk = vec![0u8; 64 * 1024];
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    // Whatever is left is smaller than a chunk: take it too, byte blocks.
    let small = vec![0u8; 512];
    while file.write(&small).is_ok_and(|n| n > 0) {}
    let _ = file.sync_all();
}

/// SET with a binary value; the reply's bytes.
fn set(raw: &mut RawClient, key: &str, value: &[u8]) -> Vec<u8> {
    raw.command(&[b"SET".as_slice(), key.as_bytes(), value])
}

/// The text of a reply: `+OK` -> `OK`, `-ERR x` -> `ERR x`.
fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(&reply[1..reply.len().saturating_sub(2)]).into_owned()
}

/// INFO's fields as a map.
fn info(raw: &mut RawClient, section: &str) -> BTreeMap<String, String> {
    let reply = raw.command(&["INFO", section]);
    assert_eq!(reply[0], b'$', "INFO failed: {}", show(&reply));
    String::from_utf8_lossy(&reply)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The value of a sample of the metrics page, by its exact name and labels
/// as printed (`redrock_writes_refused{reason="disk-full"}`).
fn metric(port: u16, sample: &str) -> f64 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    stream.read_to_string(&mut page).unwrap();
    page.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{sample} not on the metrics page"))
        .trim()
        .parse()
        .expect("a number")
}

/// Polls `probe` until it returns true, for at most `limit`.
fn wait_until(limit: Duration, what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !probe() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("redrock.log")).unwrap_or_default()
}

#[test]
fn a_full_disk_refuses_writes_keeps_reads_and_resumes_when_space_is_freed() {
    let Some(tmpfs) = Tmpfs::mount("64m") else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let data = tmpfs.path().join("data");
    let args = [
        "--rocksdb.write_buffer_size",
        "1",
        "--rocksdb.block_cache_size",
        "8",
        "--log-dir",
        logs.path().to_str().unwrap(),
    ];
    let mut server = Server::start_in(&data, &args);
    let mut raw = server.raw();
    let mut acknowledged: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for i in 0..200 {
        let (key, value) = (format!("before:{i}"), random_value(1024));
        assert_eq!(set(&mut raw, &key, &value), b"+OK\r\n");
        acknowledged.insert(key, value);
    }

    let filler = tmpfs.path().join("filler");
    fill(&filler);
    // Pipelines of big values until the server refuses: a reply is either
    // OK (the write is kept) or the disk-full error, never a lost write.
    let mut refusal = None;
    'writing: for round in 0..2000 {
        let batch: Vec<(String, Vec<u8>)> = (0..8)
            .map(|i| (format!("during:{round}:{i}"), random_value(16 * 1024)))
            .collect();
        let mut bytes = Vec::new();
        for (key, value) in &batch {
            bytes.extend(RawClient::encode(&[
                b"SET".as_slice(),
                key.as_bytes(),
                value,
            ]));
        }
        raw.send(&bytes);
        for (key, value) in batch {
            let reply = raw.read_reply();
            match reply.as_slice() {
                b"+OK\r\n" => {
                    acknowledged.insert(key, value);
                }
                _ => refusal = Some(text(&reply)),
            }
        }
        if refusal.is_some() {
            break 'writing;
        }
    }
    let refusal = refusal.expect("the server refused a write on a full disk");
    assert!(
        refusal.starts_with("MISCONF Disk full") && refusal.contains("No space left on device"),
        "{refusal}"
    );
    // Space the failed write gave back (a removed SST) is taken again.
    fill(&filler);

    // Writes of every kind are refused (a value too big for any space left
    // over); reads, INFO and metrics go on.
    let refused = text(&set(&mut raw, "refused", &random_value(256 * 1024)));
    assert!(refused.starts_with("MISCONF Disk full"), "{refused}");
    let refused = error(&mut raw, &["DEL", "before:0"]);
    assert!(refused.starts_with("MISCONF"), "{refused}");
    for (key, value) in acknowledged.iter().take(50) {
        let reply = raw.command(&[b"GET", key.as_bytes()]);
        assert!(
            reply.ends_with(&[value.as_slice(), b"\r\n"].concat()),
            "GET {key}"
        );
    }
    let rocksdb = info(&mut raw, "rocksdb");
    assert_eq!(rocksdb["writes_refused"], "1");
    assert_eq!(rocksdb["writes_refused_reason"], "disk-full");
    assert_ne!(rocksdb["writes_refused_since"], "0");
    assert!(rocksdb["writes_refused_error"].contains("No space left on device"));
    assert_eq!(
        info(&mut raw, "persistence")["aof_last_write_status"],
        "err"
    );
    assert_eq!(
        metric(server.port, r#"redrock_writes_refused{reason="disk-full"}"#),
        1.0
    );
    assert!(log_of(logs.path()).contains("disk full: RocksDB cannot write"));

    // Space freed: writes resume by themselves (RocksDB's recovery polls
    // the free space every few seconds).
    println!(
        "{} writes acknowledged before the refusal: {refusal}",
        acknowledged.len()
    );
    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    wait_until(Duration::from_secs(60), "writes resume", || {
        raw.command(&["SET", "after:probe", "1"]) == b"+OK\r\n"
    });
    println!(
        "writes resumed {:?} after the space was freed",
        freed.elapsed()
    );
    acknowledged.insert("after:probe".into(), b"1".to_vec());
    for i in 0..100 {
        let (key, value) = (format!("after:{i}"), random_value(1024));
        assert_eq!(set(&mut raw, &key, &value), b"+OK\r\n");
        acknowledged.insert(key, value);
    }
    assert_eq!(info(&mut raw, "rocksdb")["writes_refused"], "0");
    assert_eq!(
        metric(server.port, r#"redrock_writes_refused{reason="disk-full"}"#),
        0.0
    );
    assert!(log_of(logs.path()).contains("writes resumed"));

    // Every acknowledged write survives a restart, and only those exist.
    server.restart(&args);
    let mut raw = server.raw();
    for (key, value) in &acknowledged {
        let reply = raw.command(&[b"GET", key.as_bytes()]);
        assert_eq!(
            reply,
            [format!("${}\r\n", value.len()).as_bytes(), value, b"\r\n"].concat(),
            "acknowledged {key} after restart"
        );
    }
    let dbsize = raw.command(&["DBSIZE"]);
    assert_eq!(text(&dbsize), acknowledged.len().to_string());
    drop(server);
    drop(tmpfs);
}

#[test]
fn max_db_size_refuses_commands_that_add_data() {
    let server = Server::start_with(&["--max-db-size", "2mb", "--rocksdb.write_buffer_size", "1"]);
    let mut raw = server.raw();
    let config = raw.command(&["CONFIG", "GET", "max-db-size"]);
    assert!(config.ends_with(b"$3\r\n2mb\r\n"), "{}", show(&config));
    // Written at a measured pace (the size is checked every second) until
    // refused, with a bound.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut written = 0;
    let refusal = loop {
        assert!(Instant::now() < deadline, "writes refused past max-db-size");
        let reply = set(&mut raw, &format!("key:{written}"), &random_value(4096));
        if reply != b"+OK\r\n" {
            break text(&reply);
        }
        written += 1;
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(
        refusal.starts_with("ERR write command not allowed when reached max-db-size"),
        "{refusal}"
    );
    assert!(written > 0);
    // Reads and deletes still run; commands that add data do not.
    assert_eq!(raw.command(&["EXISTS", "key:0"]), b":1\r\n");
    assert_eq!(raw.command(&["DEL", "key:0"]), b":1\r\n");
    let error = error(&mut raw, &["RPUSH", "list", "x"]);
    assert!(error.contains("max-db-size"), "{error}");
    let rocksdb = info(&mut raw, "rocksdb");
    assert_eq!(rocksdb["writes_refused_reason"], "max-db-size");
    assert_eq!(rocksdb["max_db_size_reached"], "1");
    assert_ne!(rocksdb["writes_refused_since"], "0");
    assert_eq!(rocksdb["max_db_size"], (2 << 20).to_string());
    assert_eq!(
        metric(
            server.port,
            r#"redrock_writes_refused{reason="max-db-size"}"#
        ),
        1.0
    );
    // Raising the limit lets writes in again.
    assert_eq!(
        raw.command(&["CONFIG", "SET", "max-db-size", "1"]),
        b"+OK\r\n"
    );
    wait_until(
        Duration::from_secs(30),
        "writes accepted below the limit",
        || raw.command(&["SET", "again", "1"]) == b"+OK\r\n",
    );
    assert_eq!(info(&mut raw, "rocksdb")["max_db_size_reached"], "0");
}

/// The SST files of a data dir, largest first.
fn sst_files(data: &Path) -> Vec<PathBuf> {
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(data.join("db"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .map(|p| (std::fs::metadata(&p).unwrap().len(), p))
        .collect();
    files.sort_by(|a, b| b.cmp(a));
    files.into_iter().map(|(_, p)| p).collect()
}

#[test]
fn corruption_found_by_a_compaction_makes_the_server_read_only() {
    let logs = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let args = [
        "--rocksdb.write_buffer_size",
        "1",
        "--log-dir",
        logs.path().to_str().unwrap(),
    ];
    let mut server = Server::start_in(data.path(), &args);
    let mut raw = server.raw();
    for i in 0..200 {
        let key = format!("key:{i:04}");
        assert_eq!(set(&mut raw, &key, &random_value(2048)), b"+OK\r\n");
    }
    // A clean stop flushes the keys into an SST file; damage its first data
    // block on disk (the footer and index at its end stay intact, so the
    // database opens).
    server.terminate();
    let largest = sst_files(data.path())
        .into_iter()
        .next()
        .expect("an SST file");
    let mut bytes = std::fs::read(&largest).unwrap();
    assert!(
        bytes.len() > 200 * 2048,
        "the keys' SST file: {}",
        largest.display()
    );
    for b in &mut bytes[100..164] {
        *b ^= 0xff;
    }
    std::fs::write(&largest, bytes).unwrap();

    server.restart(&args);
    let mut raw = server.raw();
    // New keys inside the damaged file's key range (but away from the
    // damaged block, which no command reads) make level-0 files that
    // overlap it; the compaction that merges them reads the damaged block.
    let mut refusal = None;
    let mut last_written = None;
    for n in 0..20_000 {
        let key = format!("key:0100:{n}");
        let value = random_value(2048);
        let reply = set(&mut raw, &key, &value);
        if reply != b"+OK\r\n" {
            refusal = Some(text(&reply));
            break;
        }
        last_written = Some((key, value));
    }
    let refusal = refusal.expect("writes refused after the compaction met the corruption");
    assert!(
        refusal.starts_with("MISCONF RedRock stopped writes after a storage error (corruption"),
        "{refusal}"
    );
    // The server runs on, read-only, and says why.
    assert_eq!(raw.command(&["PING"]), b"+PONG\r\n");
    let (key, value) = last_written.expect("some writes succeeded first");
    let reply = raw.command(&[b"GET".as_slice(), key.as_bytes()]);
    assert!(
        reply.ends_with(&[value.as_slice(), b"\r\n"].concat()),
        "GET {key}"
    );
    let error = error(&mut raw, &["SET", "x", "1"]);
    assert!(error.starts_with("MISCONF"), "{error}");
    let rocksdb = info(&mut raw, "rocksdb");
    assert_eq!(rocksdb["writes_refused"], "1");
    assert_eq!(rocksdb["writes_refused_reason"], "corruption");
    assert!(rocksdb["background_errors"].parse::<u64>().unwrap() >= 1);
    assert_eq!(
        metric(
            server.port,
            r#"redrock_writes_refused{reason="corruption"}"#
        ),
        1.0
    );
    assert!(metric(server.port, "redrock_rocksdb_background_errors_total") >= 1.0);
    assert!(log_of(logs.path()).contains("storage error: RocksDB stopped writes (Corruption"));
}
