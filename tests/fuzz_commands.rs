//! Fuzzing the command layer: seeded random argv for every command of the
//! table (valid and invalid arities, keys of every type, options, huge,
//! negative and NaN numbers, binary junk), sent to a real server pipelined
//! and not, and mutated RESP streams on throwaway connections. Every reply
//! must be well-formed RESP, the server must answer PING after every batch,
//! and at the end the process must be alive with no panic on its stderr.
//!
//! `REDROCK_FUZZ_SEED` replays a run; `REDROCK_FUZZ_COMMANDS` sets its
//! length. bench/fuzz.sh runs a million commands and checks that the
//! server's memory levels off.

mod common;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redrock::commands::flags::BLOCKING;
use redrock::commands::{CommandSpec, KeySpec, COMMANDS};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// What CI runs: twenty thousand commands, about a second.
const DEFAULT_COMMANDS: u64 = 20_000;
const DEFAULT_SEED: u64 = 11;
/// From this run length on, the memory check is meaningful and enforced.
const LEAK_CHECK_FROM: u64 = 200_000;
/// A reply slower than this is a hang.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Commands the generator never sends: SHUTDOWN ends the run; CLIENT
/// REPLY OFF or SKIP leaves commands without the reply the run waits for;
/// CLIENT PAUSE (ALL unless told, for as long as a random number says)
/// holds every connection of the run; the (un)subscribe commands answer
/// once per channel and put the connection in subscribed mode, where PING
/// answers `["pong", ""]`, so the run's one reply per command and its PING
/// check would not hold (tests/pubsub.rs covers their bad input). PSYNC
/// turns the connection into a replica's feed, REPLICAOF and SLAVEOF make
/// the server a replica of a random address for the rest of the run, and
/// WAIT with a timeout of 0 waits for replicas forever
/// (tests/replication.rs covers them). MONITOR sends a line for each
/// command after its reply and answers nothing a second time
/// (tests/monitor.rs covers it).
const NEVER: &[&str] = &[
    "monitor",
    "psync",
    "replicaof",
    "slaveof",
    "wait",
    "shutdown",
    "client|reply",
    "client|pause",
    "subscribe",
    "psubscribe",
    "ssubscribe",
    "unsubscribe",
    "punsubscribe",
    "sunsubscribe",
];
/// Slow whole-database commands, sent one time in twenty they are picked
/// so they do not dominate the run.
const RARE: &[&str] = &["bgsave", "save", "compact", "flushall", "flushdb"];
/// Commands that may close the connection they run on (or every other one).
const CLOSING: &[&str] = &["quit", "client|kill"];

/// Keys shared by every command, so types collide (WRONGTYPE) and
/// multi-key commands find each other's data.
const KEYS: &[&[u8]] = &[
    b"k0",
    b"k1",
    b"k2",
    b"k3",
    b"k4",
    b"{t}a",
    b"{t}b",
    b"{t}c",
    b"",
    b"\x00\xff\r\n",
];
/// Option words of Redis commands, offered to every command.
const OPTIONS: &[&str] = &[
    "NX",
    "XX",
    "GT",
    "LT",
    "CH",
    "INCR",
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "KEEPTTL",
    "GET",
    "PERSIST",
    "WITHSCORES",
    "WITHSCORE",
    "LIMIT",
    "BYSCORE",
    "BYLEX",
    "REV",
    "MATCH",
    "COUNT",
    "TYPE",
    "WEIGHTS",
    "AGGREGATE",
    "SUM",
    "MIN",
    "MAX",
    "LEFT",
    "RIGHT",
    "BEFORE",
    "AFTER",
    "RANK",
    "MAXLEN",
    "IDX",
    "LEN",
    "MINMATCHLEN",
    "WITHMATCHLEN",
    "WITHVALUES",
    "DB",
    "REPLACE",
    "ASYNC",
    "SYNC",
    "SKIPME",
    "ID",
    "ADDR",
    "LADDR",
    "USER",
    "TIMEOUT",
    "ERROR",
    "SETNAME",
    "AUTH",
    "string",
    "list",
    "hash",
    "set",
    "zset",
    "normal",
    "yes",
    "no",
    "RESET",
    "FORCE",
    "IMPORTING",
    "MIGRATING",
    "NODE",
    "STABLE",
    "HELP",
];
/// Numbers at and past the edges of every integer and float parser.
const EDGE_NUMBERS: &[&str] = &[
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "2147483647",
    "2147483648",
    "4294967296",
    "-1",
    "0",
    "1e308",
    "1e400",
    "-1e400",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "+inf",
    "-0",
    "0.5",
    "1.5e10",
    "0x10",
    " 1",
    "1 ",
    "3.14abc",
    "(1",
    "(5.5",
    "[a",
    "(a",
    "-",
    "+",
    "[",
    "(",
];
const PATTERNS: &[&str] = &["*", "k*", "?", "[a-z]*", "\\", "[", "{t}*", "*\\"];
/// Directives CONFIG SET may change, with values to try (valid and not),
/// and directives it must refuse. Left out: `requirepass` (would lock the
/// fuzzer out), `timeout` and `maxclients` (would close or refuse its
/// connections) and `backup-dir` (BGSAVE would write wherever it points).
const CONFIG_SET: &[(&str, &[&str])] = &[
    ("slowlog-log-slower-than", &["0", "-1", "10000", "1e3", "x"]),
    ("slowlog-max-len", &["0", "1", "128", "1024", "-1", "x"]),
    ("log-level", &["warning", "info", "verbose", "nosuch"]),
    (
        "proto-max-bulk-len",
        &["1mb", "512mb", "1tb", "1024", "0", "-1", "x"],
    ),
    ("port", &["0", "6379"]),
    ("dir", &["/nonexistent"]),
    ("databases", &["1"]),
    ("rocksdb.compression", &["zstd"]),
    ("no-such-directive", &["1"]),
];

struct Generator {
    rng: StdRng,
    commands: Vec<&'static CommandSpec>,
}

impl Generator {
    fn new(seed: u64) -> Generator {
        let commands = COMMANDS
            .iter()
            .filter(|c| !NEVER.contains(&c.name))
            .collect();
        Generator {
            rng: StdRng::seed_from_u64(seed),
            commands,
        }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())]
    }

    /// A command name in random letter case.
    fn name(&mut self, name: &str) -> Vec<u8> {
        name.bytes()
            .map(|b| {
                if self.rng.random_bool(0.3) {
                    b.to_ascii_uppercase()
                } else {
                    b
                }
            })
            .collect()
    }

    fn arg(&mut self) -> Vec<u8> {
        match self.rng.random_range(0..16) {
            0..=2 => self.pick(KEYS).to_vec(),
            3..=4 => self.rng.random_range(-5..20).to_string().into_bytes(),
            5..=6 => self.pick(EDGE_NUMBERS).as_bytes().to_vec(),
            7..=9 => self.pick(OPTIONS).as_bytes().to_vec(),
            10 => {
                let len = self.rng.random_range(0..32);
                (0..len).map(|_| self.rng.random()).collect()
            }
            11 => vec![b'x'; self.rng.random_range(1..4096)],
            12 => self.pick(PATTERNS).as_bytes().to_vec(),
            13 => format!("{:.3}", self.rng.random_range(-1e6..1e6)).into_bytes(),
            _ => self.pick(&["a", "b", "c", "m1", "f1", "hello", "1"]).into(),
        }
    }

    /// A random command of the table, whole argv.
    fn command(&mut self) -> (&'static str, Vec<Vec<u8>>) {
        let mut spec = self.commands[self.rng.random_range(0..self.commands.len())];
        while RARE.contains(&spec.name) && !self.rng.random_ratio(1, 20) {
            spec = self.commands[self.rng.random_range(0..self.commands.len())];
        }
        if self.rng.random_ratio(1, 100) {
            return ("unknown", vec![b"no-such-command".to_vec(), self.arg()]);
        }
        let mut argv = vec![self.name(spec.name)];
        if !spec.subcommands.is_empty() && !self.rng.random_ratio(1, 10) {
            let subcommands: Vec<_> = spec
                .subcommands
                .iter()
                .filter(|sub| !NEVER.contains(&sub.full_name))
                .collect();
            spec = subcommands[self.rng.random_range(0..subcommands.len())];
            argv.push(self.name(spec.name));
        }
        let fixed = spec.arity.unsigned_abs() as usize;
        let argc = if self.rng.random_ratio(1, 10) {
            self.rng.random_range(1..=fixed + 2)
        } else if spec.arity > 0 {
            fixed
        } else {
            fixed + self.rng.random_range(0..=6)
        };
        while argv.len() < argc {
            argv.push(self.arg());
        }
        argv.truncate(argc.max(1));
        self.place_keys(spec, &mut argv);
        self.tame(spec, &mut argv);
        (spec.full_name, argv)
    }

    /// Puts keys where the table says keys go, and a matching key count
    /// where it says one is.
    fn place_keys(&mut self, spec: &CommandSpec, argv: &mut [Vec<u8>]) {
        if let KeySpec::NumKeys { count_at, .. } = spec.keys {
            if count_at < argv.len() && self.rng.random_ratio(4, 5) {
                let rest = argv.len() - count_at - 1;
                let count = rest.saturating_sub(self.rng.random_range(0..=rest.min(2)));
                argv[count_at] = count.to_string().into_bytes();
            }
        }
        let args: Vec<bytes::Bytes> = argv.iter().map(|a| a.clone().into()).collect();
        for pos in spec.key_positions(&args) {
            if self.rng.random_ratio(9, 10) {
                argv[pos] = self.pick(KEYS).to_vec();
            }
        }
    }

    /// Keeps arguments that are valid but would stall the run (a blocking
    /// wait with no end, a gigabyte reply) within bounds, and CONFIG SET on
    /// directives the run can survive.
    fn tame(&mut self, spec: &CommandSpec, argv: &mut Vec<Vec<u8>>) {
        let last = argv.len() - 1;
        if spec.flags & BLOCKING != 0 && last > 0 {
            let at = match spec.keys {
                KeySpec::NumKeys { .. } => 1,
                _ => last,
            };
            argv[at] = self
                .pick(&["0.01", "0.001", "-1", "nan", "x", "1e400", "0.0001"])
                .into();
        }
        match spec.full_name {
            // A count of N returns N elements, repeats allowed: legitimate,
            // and as big as N says.
            "srandmember" | "hrandfield" | "zrandmember" if last >= 2 => {
                bound_number(&mut argv[2], 1000)
            }
            // An offset of N makes an N-byte string.
            "setrange" if last >= 2 => bound_number(&mut argv[2], 1 << 20),
            // Key extraction of any command, valid or not.
            "command|getkeys" if self.rng.random_ratio(4, 5) => {
                let (_, inner) = self.command();
                argv.truncate(2);
                argv.extend(inner);
            }
            "config|set" if last >= 2 => {
                for pair in argv[2..].chunks_mut(2) {
                    let (name, values) = self.pick(CONFIG_SET);
                    pair[0] = name.into();
                    if let Some(value) = pair.get_mut(1) {
                        *value = self.pick(values).into();
                    }
                }
            }
            _ => {}
        }
    }
}

/// Replaces an integer argument beyond `limit` in size by its remainder.
fn bound_number(arg: &mut Vec<u8>, limit: i64) {
    if let Some(n) = std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
    {
        if n.unsigned_abs() > limit as u64 {
            *arg = (n % limit).to_string().into_bytes();
        }
    }
}

/// Byte mutations of a request stream, biased toward RESP's syntax.
fn mutate(rng: &mut StdRng, input: &mut Vec<u8>) {
    const SYNTAX: &[u8] = b"*$:+-\r\n0123456789 \"'\\";
    for _ in 0..rng.random_range(1..6) {
        let at = rng.random_range(0..input.len().max(1));
        match rng.random_range(0..6) {
            0 if at < input.len() => input[at] = rng.random(),
            1 if at < input.len() => input[at] = SYNTAX[rng.random_range(0..SYNTAX.len())],
            2 => input.insert(
                at.min(input.len()),
                SYNTAX[rng.random_range(0..SYNTAX.len())],
            ),
            3 if at < input.len() => {
                input.remove(at);
            }
            4 => input.truncate(at),
            _ => {
                let digits = rng.random_range(1..20);
                let junk: String = (0..digits)
                    .map(|_| char::from(b'0' + rng.random_range(0..10)))
                    .collect();
                let at = at.min(input.len());
                input.splice(at..at, junk.into_bytes());
            }
        }
    }
}

/// Reads one reply and checks it is well-formed RESP2/RESP3: lengths that
/// match, integers that parse, errors that start with an upper-case code.
fn read_reply(reader: &mut impl BufRead) -> Result<(), String> {
    let mut line = Vec::new();
    match reader.read_until(b'\n', &mut line) {
        Ok(0) => return Err("closed".into()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Err("closed".into()),
        Err(e) => return Err(io_text(e)),
    }
    let Some(body) = line.strip_suffix(b"\r\n") else {
        return Err(format!("reply line without CRLF: {}", show(&line)));
    };
    if body.is_empty() || body.contains(&b'\r') {
        return Err(format!("malformed reply line: {}", show(&line)));
    }
    let text = String::from_utf8_lossy(&body[1..]).into_owned();
    let number = || {
        text.parse::<i64>()
            .map_err(|_| format!("bad length or integer: {}", show(&line)))
    };
    match body[0] {
        b'+' => Ok(()),
        b'-' => {
            let code = text.split(' ').next().unwrap_or("");
            if code.is_empty() || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(format!("error without an upper-case code: {}", show(&line)));
            }
            Ok(())
        }
        b':' => number().map(drop),
        b'(' => match text.strip_prefix('-').unwrap_or(&text) {
            digits if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
            _ => Err(format!("bad big number: {}", show(&line))),
        },
        b',' => match text.as_str() {
            "inf" | "-inf" | "nan" => Ok(()),
            t if t.parse::<f64>().is_ok() => Ok(()),
            _ => Err(format!("bad double: {}", show(&line))),
        },
        b'#' if text == "t" || text == "f" => Ok(()),
        b'_' if text.is_empty() => Ok(()),
        b'$' | b'=' | b'!' => {
            let len = number()?;
            if len == -1 && body[0] == b'$' {
                return Ok(());
            }
            let len = usize::try_from(len).map_err(|_| format!("bad length: {}", show(&line)))?;
            let mut data = vec![0; len + 2];
            reader
                .read_exact(&mut data)
                .map_err(|e| format!("reading a bulk of {len}: {e}"))?;
            if !data.ends_with(b"\r\n") {
                return Err(format!("bulk of {len} not followed by CRLF"));
            }
            if body[0] == b'=' && (len < 4 || data[3] != b':') {
                return Err(format!("verbatim string without a format: {}", show(&data)));
            }
            Ok(())
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let count = number()?;
            if count == -1 && body[0] == b'*' {
                return Ok(());
            }
            let count = u64::try_from(count).map_err(|_| format!("bad count: {}", show(&line)))?;
            let items = if matches!(body[0], b'%' | b'|') {
                count * 2
            } else {
                count
            };
            for _ in 0..items {
                read_reply(reader)?;
            }
            if body[0] == b'|' {
                // An attribute precedes the reply it describes.
                read_reply(reader)?;
            }
            Ok(())
        }
        _ => Err(format!("unknown reply type: {}", show(&line))),
    }
}

/// An I/O failure as text; "closed" when the server closed the connection.
fn io_text(e: std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => "closed".into(),
        _ => e.to_string(),
    }
}

fn connect(port: u16) -> (BufReader<TcpStream>, TcpStream) {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("the server accepts connections");
    stream.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    (BufReader::new(stream.try_clone().unwrap()), stream)
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .expect("VmRSS")
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| v.parse().expect(name))
}

fn describe(batch: &[(&str, Vec<Vec<u8>>)]) -> String {
    batch
        .iter()
        .map(|(_, argv)| {
            argv.iter()
                .map(|a| format!("{:?}", String::from_utf8_lossy(a)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// Sends a mutated stream on a new connection, half-closes it, and checks
/// every reply up to the server's close is well-formed.
fn send_mutated(port: u16, bytes: &[u8]) -> Result<usize, String> {
    let (mut reader, mut writer) = connect(port);
    // The server may close first (a protocol error); a failed write is fine.
    let _ = writer.write_all(bytes);
    let _ = writer.shutdown(Shutdown::Write);
    let mut replies = 0;
    loop {
        match read_reply(&mut reader) {
            Ok(()) => replies += 1,
            Err(e) if e == "closed" => return Ok(replies),
            Err(e) => return Err(e),
        }
    }
}

#[test]
fn random_commands_never_break_the_server() {
    let seed = env_u64("REDROCK_FUZZ_SEED", DEFAULT_SEED);
    let total = env_u64("REDROCK_FUZZ_COMMANDS", DEFAULT_COMMANDS);
    println!("fuzz: seed {seed}, {total} commands (REDROCK_FUZZ_SEED replays)");
    let mut server = Server::start_with(&[
        // Small memtables and cache: memory levels off early, and flushes
        // and compactions run often under the fuzzer.
        "--rocksdb.write_buffer_size",
        "4",
        "--rocksdb.block_cache_size",
        "16",
    ]);
    let mut stderr = server.child.stderr.take().expect("server stderr");
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let pid = server.child.id();
    let mut generator = Generator::new(seed);
    let (mut reader, mut writer) = connect(server.port);
    let started = Instant::now();
    let (mut sent, mut batches, mut errors, mut reconnects) = (0u64, 0u64, 0u64, 0u64);
    let (mut streams, mut stream_replies) = (0u64, 0u64);
    let mut rss = Vec::new();
    let mut next_sample = 0;
    while sent < total {
        if sent >= next_sample {
            rss.push((sent, rss_kb(pid)));
            next_sample += total / 10;
        }
        let size = if generator.rng.random_bool(0.5) {
            1
        } else {
            generator.rng.random_range(2..=64)
        };
        let batch: Vec<_> = (0..size).map(|_| generator.command()).collect();
        sent += size;
        batches += 1;
        let may_close = batch.iter().any(|(name, _)| CLOSING.contains(name));
        // Not when the batch may kill clients: it could kill this one.
        if !may_close && generator.rng.random_ratio(1, 10) {
            let mut bytes: Vec<u8> = batch
                .iter()
                .flat_map(|(_, argv)| RawClient::encode(&argv[..]))
                .collect();
            mutate(&mut generator.rng, &mut bytes);
            stream_replies += send_mutated(server.port, &bytes)
                .unwrap_or_else(|e| panic!("seed {seed}: mutated stream {}: {e}", show(&bytes)))
                as u64;
            streams += 1;
        }
        let bytes: Vec<u8> = batch
            .iter()
            .flat_map(|(_, argv)| RawClient::encode(&argv[..]))
            .collect();
        let opened_transaction = batch.iter().any(|(name, _)| *name == "multi");
        let outcome = writer.write_all(&bytes).map_err(io_text).and_then(|()| {
            for _ in &batch {
                if reader.fill_buf().map_err(io_text)?.first() == Some(&b'-') {
                    errors += 1;
                }
                read_reply(&mut reader)?;
            }
            if opened_transaction {
                // Leaves a transaction the batch may have left open, so
                // the PING below runs instead of being queued.
                writer
                    .write_all(&RawClient::encode(&["DISCARD"]))
                    .map_err(io_text)?;
                read_reply(&mut reader)?;
            }
            writer
                .write_all(&RawClient::encode(&["PING"]))
                .map_err(io_text)?;
            let mut pong = String::new();
            reader.read_line(&mut pong).map_err(io_text)?;
            match pong.as_str() {
                "+PONG\r\n" => Ok(()),
                "" => Err("closed".to_string()),
                other => Err(format!("PING answered {other:?}")),
            }
        });
        match outcome {
            Ok(()) => {}
            Err(e) if may_close && e == "closed" => {
                (reader, writer) = connect(server.port);
                reconnects += 1;
            }
            Err(e) => panic!(
                "seed {seed}: after {sent} commands: {e}; the batch was:\n  {}",
                describe(&batch)
            ),
        }
    }
    rss.push((sent, rss_kb(pid)));
    let elapsed = started.elapsed().as_secs_f64();
    drop((reader, writer));
    wait_for_one_client(&server);
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server exited"
    );
    server.kill9();
    let stderr = stderr_reader.join().unwrap();
    println!(
        "fuzz: {sent} commands in {batches} batches ({errors} error replies, {reconnects} \
         reconnects after QUIT/CLIENT KILL), {streams} mutated streams ({stream_replies} \
         replies), {elapsed:.1}s, {:.0} commands/s",
        sent as f64 / elapsed
    );
    println!(
        "fuzz: RSS (commands, kB): {}",
        rss.iter()
            .map(|(at, kb)| format!("({at}, {kb})"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    assert!(
        !stderr.contains("panicked"),
        "the server panicked:\n{stderr}"
    );
    if total >= LEAK_CHECK_FROM {
        check_no_leak(&rss);
    }
}

/// Every connection the run opened must be gone (the server closed each
/// mutated stream's), leaving the one asking.
fn wait_for_one_client(server: &Server) {
    let mut raw = server.raw();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = String::from_utf8(raw.command(&["INFO", "clients"])).unwrap();
        if info.contains("connected_clients:1\r\n") {
            return;
        }
        assert!(Instant::now() < deadline, "connections left open:\n{info}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Memory must level off: the last sample may exceed the highest one of
/// the run's middle (after warm-up) by a quarter, or 32 MB if more.
fn check_no_leak(rss: &[(u64, u64)]) {
    let total = rss.last().unwrap().0;
    let plateau = rss
        .iter()
        .filter(|(at, _)| *at >= total * 3 / 10 && *at <= total * 6 / 10)
        .map(|(_, kb)| *kb)
        .max()
        .expect("samples in the middle of the run");
    let end = rss.last().unwrap().1;
    let allowed = plateau + (plateau / 4).max(32 * 1024);
    assert!(
        end <= allowed,
        "RSS grew from {plateau} kB mid-run to {end} kB at the end (allowed {allowed} kB)"
    );
}
