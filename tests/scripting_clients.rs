//! Lua scripting as clients use it, against redis-server and RedRock.
//!
//! - redis-py (tests/clients/scripting.py): register_script with its
//!   NOSCRIPT fallback, the Lock class under contention, Redlock over three
//!   servers; both servers' outputs compared line by line.
//! - The redis crate's `Script`: keys and arguments, and the SCRIPT LOAD it
//!   sends when EVALSHA answers NOSCRIPT.
//! - A seeded stress run: 8 connections run scripts that move tokens
//!   between keys, some declared in KEYS and some computed inside the
//!   script; every reply is checked (a script's own counter is exact, no
//!   balance is negative, and a census script sees the constant total).
//!   `REDROCK_SCRIPT_STRESS_SEED=<seed>` replays a run.
//! - Busy scripts: past `busy-reply-threshold` a spinning script's keys
//!   answer BUSY; SCRIPT KILL and FUNCTION KILL end one that did not write,
//!   UNKILLABLE one that did, SHUTDOWN NOSAVE stops the server. On RedRock
//!   a script locks only its keys, so other keys are served meanwhile.
//! - Persistence: functions survive a restart (and kill -9), the script
//!   cache does not.

mod common;
use common::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Every wait of these tests ends within this.
const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// redis-py: tests/clients/scripting.py on three servers of each kind.

#[test]
fn redis_py_scripting_matches_redis() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/scripting.py");
    let run = |ports: [u16; 3]| -> String {
        let output = std::process::Command::new("timeout")
            .arg("300")
            .arg("python3")
            .arg(script)
            .args(ports.map(|p| p.to_string()))
            .output()
            .expect("python3 with redis-py (deploy/install-deps.sh --test)");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "scripting.py on ports {ports:?} failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        stdout
    };
    let theirs = {
        let redis = [
            RedisServer::start(),
            RedisServer::start(),
            RedisServer::start(),
        ];
        run([redis[0].port, redis[1].port, redis[2].port])
    };
    let redrock = [Server::start(), Server::start(), Server::start()];
    let ours = run([redrock[0].port, redrock[1].port, redrock[2].port]);
    for (a, b) in ours.lines().zip(theirs.lines()) {
        assert_eq!(
            a, b,
            "redis-py saw different results (left RedRock, right redis-server)"
        );
    }
    assert_eq!(ours.lines().count(), theirs.lines().count());
}

// ---------------------------------------------------------------------------
// The redis crate's Script.

/// A connection whose reads and writes end within `WAIT`.
fn connect(port: u16) -> redis::Connection {
    let con = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .expect("client")
        .get_connection_with_timeout(WAIT)
        .expect("connecting");
    con.set_read_timeout(Some(WAIT)).expect("read timeout");
    con.set_write_timeout(Some(WAIT)).expect("write timeout");
    con
}

/// A query's result as text: the value, or the error's kind, code and
/// detail.
fn outcome<T: std::fmt::Debug>(r: redis::RedisResult<T>) -> String {
    match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(e) => format!("Err({:?}, {:?}, {:?})", e.kind(), e.code(), e.detail()),
    }
}

fn script_exists(con: &mut redis::Connection, sha: &str) -> bool {
    let found: Vec<bool> = redis::cmd("SCRIPT")
        .arg("EXISTS")
        .arg(sha)
        .query(con)
        .expect("SCRIPT EXISTS");
    found == [true]
}

/// What `redis::Script` does on one server, as text; asserts what must
/// hold on any server.
fn crate_scripts(port: u16) -> Vec<String> {
    let mut con = connect(port);
    let mut out = Vec::new();
    let () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
    let () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut con).unwrap();
    let script = redis::Script::new(
        "redis.call('RPUSH', KEYS[1], unpack(ARGV)) \
         return {redis.call('LLEN', KEYS[1]), KEYS[2], #ARGV}",
    );
    // The hash the crate computes is the server's.
    let loaded: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(
            "redis.call('RPUSH', KEYS[1], unpack(ARGV)) \
             return {redis.call('LLEN', KEYS[1]), KEYS[2], #ARGV}",
        )
        .query(&mut con)
        .unwrap();
    assert_eq!(loaded, script.get_hash());
    let () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut con).unwrap();
    assert!(!script_exists(&mut con, script.get_hash()));
    // EVALSHA first answers NOSCRIPT ...
    let raw: redis::RedisResult<redis::Value> = redis::cmd("EVALSHA")
        .arg(script.get_hash())
        .arg(0)
        .query(&mut con);
    let raw = outcome(raw);
    assert!(
        raw.contains("NoScript"),
        "EVALSHA of an unknown script: {raw}"
    );
    out.push(raw);
    // ... so invoke loads the script and calls it again.
    let r: redis::RedisResult<(i64, String, i64)> = script
        .key("list")
        .key("second")
        .arg("a")
        .arg("b")
        .arg(3)
        .invoke(&mut con);
    assert_eq!(outcome(r), r#"Ok((3, "second", 3))"#);
    assert!(
        script_exists(&mut con, script.get_hash()),
        "invoke loaded the script"
    );
    // Loaded now: EVALSHA at once.
    let r: redis::RedisResult<(i64, String, i64)> =
        script.key("list").key("k2").arg("c").invoke(&mut con);
    assert_eq!(outcome(r), r#"Ok((4, "k2", 1))"#);
    let list: Vec<String> = redis::cmd("LRANGE")
        .arg("list")
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!(list, ["a", "b", "3", "c"]);
    out.push(format!("{list:?}"));

    // prepare_invoke, keys and arguments added in a loop.
    let sum = redis::Script::new(
        "local t = 0 for i, k in ipairs(KEYS) do t = t + redis.call('INCRBY', k, ARGV[i]) end return t",
    );
    let mut call = sum.prepare_invoke();
    for i in 1..=5 {
        call.key(format!("n{i}")).arg(i * 10);
    }
    out.push(outcome(call.invoke::<i64>(&mut con)));
    out.push(outcome(call.invoke::<i64>(&mut con)));
    // Script::load, and an error from inside the script.
    out.push(outcome(sum.prepare_invoke().load(&mut con)));
    let failing = redis::Script::new("return redis.error_reply('CUSTOM failure')");
    out.push(outcome(failing.invoke::<redis::Value>(&mut con)));
    let wrong_type = redis::Script::new("return redis.call('INCR', KEYS[1])");
    out.push(outcome(
        wrong_type.key("list").invoke::<redis::Value>(&mut con),
    ));

    // The async connection loads on NOSCRIPT the same way.
    let () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut con).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = runtime.block_on(async {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let mut con = tokio::time::timeout(WAIT, client.get_multiplexed_async_connection())
            .await
            .expect("connecting in time")?;
        let first = tokio::time::timeout(
            WAIT,
            script
                .key("alist")
                .key("x")
                .arg("v")
                .invoke_async::<(i64, String, i64)>(&mut con),
        )
        .await
        .expect("a reply in time")?;
        let second = tokio::time::timeout(
            WAIT,
            script
                .key("alist")
                .key("y")
                .arg("w")
                .invoke_async::<(i64, String, i64)>(&mut con),
        )
        .await
        .expect("a reply in time")?;
        redis::RedisResult::Ok((first, second))
    });
    assert_eq!(outcome(r), r#"Ok(((1, "x", 1), (2, "y", 1)))"#);
    assert!(script_exists(&mut con, script.get_hash()));
    out
}

#[test]
fn crate_script_invokes_with_keys_and_args_and_loads_on_noscript() {
    let redis = RedisServer::start();
    let theirs = crate_scripts(redis.port);
    let redrock = Server::start();
    let ours = crate_scripts(redrock.port);
    assert_eq!(ours, theirs, "left RedRock, right redis-server");
    eprintln!("{theirs:#?}");
}

// ---------------------------------------------------------------------------
// Stress: tokens moved by scripts touching declared and undeclared keys.

const ACCOUNTS: usize = 10;
const START_BALANCE: i64 = 100;

/// Base accounts are `acct:<i>`; each has a shadow `acct:<i>x` that the
/// scripts compute from a declared key (KEYS[n] .. 'x').
fn account(i: usize) -> String {
    format!("acct:{i}")
}

fn all_accounts() -> Vec<String> {
    (0..ACCOUNTS)
        .flat_map(|i| [account(i), format!("{}x", account(i))])
        .collect()
}

/// ARGV[1] amount, ARGV[2] the caller's counter (INCR first; declared or
/// not), ARGV[3] '1' to add each declared account's shadow, ARGV[4..]
/// more accounts by name (undeclared). The i-th listed account gives
/// i * `amount` to the next one (cyclically) if it has it, so balances
/// drift. Returns the counter, the number of moves and the final balances
/// of the accounts it touched.
const TRANSFER: &str = r#"
local amount = tonumber(ARGV[1])
local seq = redis.call('INCR', ARGV[2])
local accounts, seen = {}, {}
local function add(k)
  if not seen[k] then seen[k] = true; accounts[#accounts + 1] = k end
end
for _, k in ipairs(KEYS) do if k ~= ARGV[2] then add(k) end end
if ARGV[3] == '1' then
  for _, k in ipairs(KEYS) do if k ~= ARGV[2] then add(k .. 'x') end end
end
for i = 4, #ARGV do add(ARGV[i]) end
local moved = 0
for i, from in ipairs(accounts) do
  local to = accounts[i % #accounts + 1]
  local balance = tonumber(redis.call('GET', from) or '0')
  if from ~= to and balance >= amount * i then
    redis.call('DECRBY', from, amount * i)
    redis.call('INCRBY', to, amount * i)
    moved = moved + 1
  end
end
local balances = {}
for i, k in ipairs(accounts) do balances[i] = tonumber(redis.call('GET', k) or '0') end
return {seq, moved, balances}
"#;

/// Sums the accounts named in KEYS and ARGV: {total, lowest, count}.
const CENSUS: &str = r#"
local total, low, n = 0, nil, 0
local function visit(k)
  local v = tonumber(redis.call('GET', k) or '0')
  total = total + v
  n = n + 1
  if low == nil or v < low then low = v end
end
for _, k in ipairs(KEYS) do visit(k) end
for i = 1, #ARGV do visit(ARGV[i]) end
return {total, low, n}
"#;

#[derive(Debug, Default, Clone, Copy)]
struct StressStats {
    transfers: u64,
    moves: u64,
    undeclared: u64,
    censuses: u64,
    /// The lowest balance a census saw.
    lowest: i64,
}

struct StressClient {
    con: redis::Connection,
    who: String,
    counter: String,
    seq: i64,
    rng: StdRng,
    transfer_sha: String,
    census_sha: String,
    stats: StressStats,
}

impl StressClient {
    fn transfer(&mut self) {
        let rng = &mut self.rng;
        let mut bases: Vec<usize> = (0..ACCOUNTS).collect();
        bases.shuffle(rng);
        let declared: Vec<String> = bases[..rng.random_range(0..=3)]
            .iter()
            .map(|&i| account(i))
            .collect();
        let shadows = rng.random_bool(0.7);
        // Undeclared accounts by name: bases or shadows, possibly ones
        // that are declared too.
        let undeclared: Vec<String> = (0..rng.random_range(0..=3))
            .map(|_| {
                let i = rng.random_range(0..ACCOUNTS);
                if rng.random_bool(0.5) {
                    account(i)
                } else {
                    format!("{}x", account(i))
                }
            })
            .collect();
        let declare_counter = rng.random_bool(0.5);
        let amount = rng.random_range(1..=40);
        let mut keys = declared.clone();
        if declare_counter {
            keys.insert(rng.random_range(0..=keys.len()), self.counter.clone());
        }
        let mut cmd = if rng.random_bool(0.8) {
            let mut c = redis::cmd("EVALSHA");
            c.arg(&self.transfer_sha);
            c
        } else {
            let mut c = redis::cmd("EVAL");
            c.arg(TRANSFER);
            c
        };
        cmd.arg(keys.len())
            .arg(&keys)
            .arg(amount)
            .arg(&self.counter)
            .arg(if shadows { "1" } else { "0" })
            .arg(&undeclared);
        let what = format!(
            "{}: transfer {amount}, KEYS {keys:?}, shadows {shadows}, undeclared {undeclared:?}",
            self.who
        );
        let reply: redis::RedisResult<(i64, i64, Vec<i64>)> = cmd.query(&mut self.con);
        let (seq, moved, balances) = reply.unwrap_or_else(|e| panic!("{what}: {e}"));
        self.seq += 1;
        assert_eq!(
            seq, self.seq,
            "{what}: the counter says {seq}, this is call {} (a write lost or applied twice)",
            self.seq
        );
        assert!(
            balances.iter().all(|&b| b >= 0),
            "{what}: a negative balance {balances:?}"
        );
        let touched = declared.len() + if shadows { declared.len() } else { 0 } + undeclared.len();
        assert!(
            balances.len() <= touched && (touched == 0 || !balances.is_empty()),
            "{what}: balances {balances:?}"
        );
        self.stats.transfers += 1;
        self.stats.moves += moved as u64;
        if (shadows && !declared.is_empty()) || !undeclared.is_empty() {
            self.stats.undeclared += 1;
        }
    }

    /// The census script over a random split of the accounts into declared
    /// and undeclared, or MGET of all of them.
    fn census(&mut self) {
        let mut names = all_accounts();
        names.shuffle(&mut self.rng);
        let split = self.rng.random_range(0..=names.len());
        let form = self.rng.random_range(0..4);
        let (total, low, n) = if form == 3 {
            let values: Vec<Option<i64>> = redis::cmd("MGET")
                .arg(&names)
                .query(&mut self.con)
                .unwrap_or_else(|e| panic!("{}: MGET: {e}", self.who));
            let values: Vec<i64> = values.into_iter().map(|v| v.unwrap_or(0)).collect();
            (
                values.iter().sum(),
                *values.iter().min().unwrap(),
                values.len() as i64,
            )
        } else {
            let name = ["EVALSHA", "EVAL", "EVALSHA_RO"][form];
            let mut cmd = redis::cmd(name);
            if name == "EVAL" {
                cmd.arg(CENSUS);
            } else {
                cmd.arg(&self.census_sha);
            }
            cmd.arg(split).arg(&names[..split]).arg(&names[split..]);
            let reply: redis::RedisResult<(i64, i64, i64)> = cmd.query(&mut self.con);
            reply.unwrap_or_else(|e| panic!("{}: {name} census: {e}", self.who))
        };
        let expected = START_BALANCE * (2 * ACCOUNTS) as i64;
        assert_eq!(
            (total, n),
            (expected, (2 * ACCOUNTS) as i64),
            "{}: census (form {form}, {split} declared) saw a different total",
            self.who
        );
        assert!(
            low >= 0,
            "{}: census saw a negative balance {low}",
            self.who
        );
        self.stats.censuses += 1;
        self.stats.lowest = self.stats.lowest.min(low);
    }
}

/// Runs the stress on the server at `port`.
fn token_stress(port: u16, seed: u64, clients: usize, scripts: usize) -> StressStats {
    let mut setup = connect(port);
    let () = redis::cmd("FLUSHALL").query(&mut setup).unwrap();
    let mut mset = redis::cmd("MSET");
    for name in all_accounts() {
        mset.arg(name).arg(START_BALANCE);
    }
    let () = mset.query(&mut setup).unwrap();
    let transfer_sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(TRANSFER)
        .query(&mut setup)
        .unwrap();
    let census_sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(CENSUS)
        .query(&mut setup)
        .unwrap();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let mut client = StressClient {
                con: connect(port),
                who: format!("client {c}"),
                counter: format!("ctr:{c}"),
                seq: 0,
                rng: StdRng::seed_from_u64(seed.wrapping_add(c as u64)),
                transfer_sha: transfer_sha.clone(),
                census_sha: census_sha.clone(),
                stats: StressStats {
                    lowest: START_BALANCE,
                    ..StressStats::default()
                },
            };
            std::thread::spawn(move || {
                for _ in 0..scripts {
                    client.transfer();
                    if client.rng.random_bool(0.5) {
                        client.census();
                    }
                }
                client.census();
                client.stats
            })
        })
        .collect();
    let mut total = StressStats {
        lowest: START_BALANCE,
        ..StressStats::default()
    };
    for h in handles {
        let s = h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        total.transfers += s.transfers;
        total.moves += s.moves;
        total.undeclared += s.undeclared;
        total.censuses += s.censuses;
        total.lowest = total.lowest.min(s.lowest);
    }
    // Each client's counter counts its calls exactly.
    for c in 0..clients {
        let n: i64 = redis::cmd("GET")
            .arg(format!("ctr:{c}"))
            .query(&mut setup)
            .unwrap();
        assert_eq!(n, scripts as i64, "client {c}'s counter");
    }
    total
}

#[test]
fn tokens_moved_by_scripts_on_declared_and_undeclared_keys_are_conserved() {
    const CLIENTS: usize = 8;
    const SCRIPTS: usize = 300;
    let seed: u64 = std::env::var("REDROCK_SCRIPT_STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("script stress seed: {seed} (replay with REDROCK_SCRIPT_STRESS_SEED={seed})");
    // redis-server runs scripts one at a time: the run's checks hold there.
    let redis = RedisServer::start();
    let theirs = token_stress(redis.port, seed, CLIENTS, SCRIPTS / 3);
    eprintln!("redis-server: {theirs:?}");
    let redrock = Server::start();
    let started = Instant::now();
    let ours = token_stress(redrock.port, seed, CLIENTS, SCRIPTS);
    eprintln!(
        "RedRock: {ours:?} in {:.2}s",
        started.elapsed().as_secs_f64()
    );
    for stats in [theirs, ours] {
        assert!(
            stats.moves > 0
                && stats.undeclared > 0
                && stats.censuses > 0
                && stats.lowest < START_BALANCE,
            "the run moved tokens through undeclared keys: {stats:?}"
        );
    }
}

/// Spins ~300 ms, reads KEYS[1], then increments ARGV[1] (undeclared).
const CROSSING: &str = "local t = redis.call('TIME') \
     local start = t[1] * 1000000 + t[2] \
     repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] - start > 300000 \
     redis.call('GET', KEYS[1]) return redis.call('INCR', ARGV[1])";

/// Two scripts run side by side, each declaring one key and then reaching
/// the other's key undeclared: both finish, each increment once.
fn crossing_scripts(port: u16) {
    let mut raw = RawClient::connect(port);
    raw.command(&["DEL", "a", "b"]);
    let mut first = Pending::send(port, &["EVAL", CROSSING, "1", "a", "b"]);
    let mut second = Pending::send(port, &["EVAL", CROSSING, "1", "b", "a"]);
    assert_eq!(first.line(), ":1", "the script declaring a");
    assert_eq!(second.line(), ":1", "the script declaring b");
    assert_eq!(
        text(&raw.command(&["MGET", "a", "b"])),
        "*2\r\n$1\r\n1\r\n$1\r\n1"
    );
}

#[test]
fn scripts_reaching_each_others_keys_undeclared_both_finish() {
    let redis = RedisServer::start();
    crossing_scripts(redis.port);
    let redrock = Server::start();
    for _ in 0..3 {
        crossing_scripts(redrock.port);
    }
}

// ---------------------------------------------------------------------------
// Busy scripts.

const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against \
     the dataset. You can either wait the script termination or kill the server in a hard way \
     using the SHUTDOWN NOSAVE command.";
const NOTBUSY: &str = "NOTBUSY No scripts in execution right now.";

/// Reads KEYS[1], then spins until killed.
const SPIN_READ: &str = "redis.call('GET', KEYS[1]) while true do end";
/// Writes KEYS[1], then spins forever: only SHUTDOWN NOSAVE ends it.
const SPIN_WRITE: &str = "redis.call('SET', KEYS[1], 'dirty') while true do end";
/// `spin` reads its key and spins (line 2 of the library).
const SPIN_LIBRARY: &str = "#!lua name=spinlib\n\
     redis.register_function('spin', function(keys, args) redis.call('GET', keys[1]) while true do end end)\n\
     redis.register_function('quick', function(keys, args) return redis.call('INCR', keys[1]) end)";

/// A command whose reply is awaited later, on its own connection.
struct Pending {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    what: String,
}

impl Pending {
    fn send(port: u16, args: &[&str]) -> Pending {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut writer = stream.try_clone().unwrap();
        writer.write_all(&RawClient::encode(args)).unwrap();
        Pending {
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
            what: format!("{args:?}"),
        }
    }

    /// Whether any reply byte has arrived (without waiting).
    fn has_reply(&self) -> bool {
        if !self.reader.buffer().is_empty() {
            return true;
        }
        self.stream.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        let r = self.stream.peek(&mut byte);
        self.stream.set_nonblocking(false).unwrap();
        match r {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
            Err(e) => panic!("{}: {e}", self.what),
        }
    }

    /// The one-line reply (an error, status or integer), waiting at most
    /// `WAIT`.
    fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("{}: no reply within {WAIT:?}: {e}", self.what));
        assert!(n > 0, "{}: the connection closed", self.what);
        line.trim_end().to_string()
    }

    /// Waits (bounded) for the server to close the connection.
    fn closed(mut self) -> Vec<u8> {
        let mut stream = self.stream;
        let mut rest = self.reader.buffer().to_vec();
        let mut tail = Vec::new();
        let _ = self.reader.read_to_end(&mut tail);
        rest.extend(tail);
        rest.extend(read_until_closed(&mut stream));
        rest
    }
}

/// A reply's bytes as one line of text.
fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).trim_end().to_string()
}

/// Sends `args` until the reply is a BUSY error (the script runs and is
/// past the threshold), bounded; returns that error.
fn await_busy(port: u16, args: &[&str]) -> String {
    let deadline = Instant::now() + WAIT;
    let mut raw = RawClient::connect(port);
    loop {
        let reply = text(&raw.command(args));
        if reply.starts_with("-BUSY") {
            return reply[1..].to_string();
        }
        assert!(
            Instant::now() < deadline,
            "{args:?} never answered BUSY (last reply {reply})"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sha_of(port: u16, script: &str) -> String {
    let reply = RawClient::connect(port).command(&["SCRIPT", "LOAD", script]);
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let sha = reply.lines().nth(1).unwrap_or_default().to_string();
    assert_eq!(sha.len(), 40, "SCRIPT LOAD: {reply:?}");
    sha
}

fn set_threshold(port: u16) {
    let mut raw = RawClient::connect(port);
    assert_eq!(
        text(&raw.command(&["CONFIG", "SET", "busy-reply-threshold", "100"])),
        "+OK"
    );
    assert_eq!(
        text(&raw.command(&["CONFIG", "GET", "lua-time-limit"])),
        "*2\r\n$14\r\nlua-time-limit\r\n$3\r\n100"
    );
}

/// A read-only EVAL spinning on A: A answers BUSY past the threshold;
/// on RedRock (`redrock`) keys B, C and D are served meanwhile; SCRIPT
/// KILL ends it with Redis's error.
fn kill_a_read_only_eval(port: u16, redrock: bool) {
    set_threshold(port);
    let mut raw = RawClient::connect(port);
    assert_eq!(
        text(&raw.command(&["SCRIPT", "KILL"])),
        format!("-{NOTBUSY}")
    );
    let sha = sha_of(port, SPIN_READ);
    let mut spinner = Pending::send(port, &["EVAL", SPIN_READ, "1", "A"]);
    assert_eq!(await_busy(port, &["GET", "A"]), BUSY_EVAL);
    assert_eq!(await_busy(port, &["SET", "A", "1"]), BUSY_EVAL);
    assert_eq!(
        await_busy(
            port,
            &["EVAL", "return redis.call('GET', KEYS[1])", "1", "A"]
        ),
        BUSY_EVAL
    );
    // A script that reaches A without declaring it waits for A too.
    assert_eq!(
        await_busy(
            port,
            &["EVAL", "return redis.call('GET', ARGV[1])", "0", "A"]
        ),
        BUSY_EVAL
    );
    if redrock {
        // Other keys, plain and scripted, while the spinner spins: it ends
        // only when killed, so it is still running when these answer.
        let mut other = RawClient::connect(port);
        assert_eq!(text(&other.command(&["SET", "B", "b"])), "+OK");
        assert_eq!(text(&other.command(&["GET", "B"])), "$1\r\nb");
        assert_eq!(
            text(&other.command(&["EVAL", "return redis.call('INCR', KEYS[1])", "1", "C"])),
            ":1"
        );
        assert_eq!(
            text(&other.command(&[
                "EVAL",
                "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])",
                "1",
                "D",
                "d"
            ])),
            "$1\r\nd"
        );
        assert!(
            !spinner.has_reply(),
            "the spinner answered before it was killed"
        );
    }
    // FUNCTION KILL does not kill an EVAL: Redis 7.2 answers BUSY (7.0
    // answered NOTBUSY).
    let refusal = text(&raw.command(&["FUNCTION", "KILL"]));
    if redrock {
        assert_eq!(refusal, format!("-{BUSY_EVAL}"), "FUNCTION KILL of an EVAL");
    } else {
        assert!(
            refusal.starts_with("-BUSY") || refusal.starts_with("-NOTBUSY"),
            "FUNCTION KILL of an EVAL: {refusal}"
        );
    }
    assert!(!spinner.has_reply(), "FUNCTION KILL ended an EVAL");
    assert_eq!(text(&raw.command(&["SCRIPT", "KILL"])), "+OK");
    assert_eq!(
        spinner.line(),
        format!("-ERR Script killed by user with SCRIPT KILL... script: {sha}, on @user_script:1.")
    );
    // The key is free again, the connection usable.
    assert_eq!(text(&raw.command(&["GET", "A"])), "$-1");
    assert_eq!(
        text(&raw.command(&["SCRIPT", "KILL"])),
        format!("-{NOTBUSY}")
    );
    if redrock {
        assert_eq!(text(&raw.command(&["GET", "C"])), "$1\r\n1");
    }
}

#[test]
fn script_kill_ends_a_busy_read_only_script() {
    let redis = RedisServer::start();
    kill_a_read_only_eval(redis.port, false);
    let redrock = Server::start();
    kill_a_read_only_eval(redrock.port, true);
}

/// A read-only FCALL spinning on A: FUNCTION KILL ends it, SCRIPT KILL
/// does not.
fn kill_a_function(port: u16, redrock: bool) {
    set_threshold(port);
    let mut raw = RawClient::connect(port);
    assert_eq!(
        text(&raw.command(&["FUNCTION", "LOAD", "REPLACE", SPIN_LIBRARY])),
        "$7\r\nspinlib"
    );
    let mut spinner = Pending::send(port, &["FCALL", "spin", "1", "A"]);
    assert_eq!(await_busy(port, &["GET", "A"]), BUSY_FUNCTION);
    if redrock {
        let mut other = RawClient::connect(port);
        assert_eq!(text(&other.command(&["SET", "B", "b"])), "+OK");
        assert_eq!(text(&other.command(&["FCALL", "quick", "1", "C"])), ":1");
        assert!(
            !spinner.has_reply(),
            "the spinner answered before it was killed"
        );
    }
    assert_eq!(
        text(&raw.command(&["SCRIPT", "KILL"])),
        format!("-{BUSY_FUNCTION}")
    );
    assert!(!spinner.has_reply(), "SCRIPT KILL ended a function");
    assert_eq!(text(&raw.command(&["FUNCTION", "KILL"])), "+OK");
    assert_eq!(
        spinner.line(),
        "-ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:2."
    );
    assert_eq!(text(&raw.command(&["FCALL", "quick", "1", "A"])), ":1");
    assert_eq!(
        text(&raw.command(&["FUNCTION", "KILL"])),
        format!("-{NOTBUSY}")
    );
}

#[test]
fn function_kill_ends_a_busy_function() {
    let redis = RedisServer::start();
    kill_a_function(redis.port, false);
    let redrock = Server::start();
    kill_a_function(redrock.port, true);
}

/// A spinner that wrote: SCRIPT KILL and FUNCTION KILL answer UNKILLABLE,
/// SHUTDOWN NOSAVE stops the server (its connection and the spinner's
/// close).
fn shutdown_nosave_during_an_unkillable_script(port: u16, redrock: bool) {
    set_threshold(port);
    let mut raw = RawClient::connect(port);
    let spinner = Pending::send(port, &["EVAL", SPIN_WRITE, "1", "A"]);
    assert_eq!(await_busy(port, &["GET", "A"]), BUSY_EVAL);
    if redrock {
        let mut other = RawClient::connect(port);
        assert_eq!(text(&other.command(&["SET", "B", "b"])), "+OK");
        assert!(!spinner.has_reply(), "the spinner answered");
    }
    assert_eq!(
        text(&raw.command(&["SCRIPT", "KILL"])),
        format!("-{UNKILLABLE}")
    );
    assert_eq!(
        text(&raw.command(&["FUNCTION", "KILL"])),
        format!("-{UNKILLABLE}")
    );
    assert!(!spinner.has_reply(), "the unkillable script ended");
    raw.send(&RawClient::encode(&["SHUTDOWN", "NOSAVE"]));
    let mut shutdown = raw;
    assert!(
        shutdown.is_closed(),
        "SHUTDOWN NOSAVE answered instead of exiting"
    );
    let rest = spinner.closed();
    assert!(
        rest.is_empty() || rest.starts_with(b"-"),
        "the spinner got {}",
        show(&rest)
    );
    // Nobody listens any more (bounded wait for the port to close).
    let deadline = Instant::now() + WAIT;
    while RawClient::try_connect(port).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the server still accepts connections"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn shutdown_nosave_stops_the_server_during_an_unkillable_script() {
    let redis = RedisServer::start();
    shutdown_nosave_during_an_unkillable_script(redis.port, false);

    let dir = tempfile::tempdir().unwrap();
    let mut redrock = Server::start_in(dir.path(), &[]);
    {
        let mut con = redrock.client();
        let () = redis::cmd("SET")
            .arg("B")
            .arg("before")
            .query(&mut con)
            .unwrap();
    }
    shutdown_nosave_during_an_unkillable_script(redrock.port, true);
    let status = wait_exit(&mut redrock.child, WAIT);
    eprintln!("RedRock exited: {status}");
    // The script's write was never committed; the writes before it were.
    let redrock = Server::start_in(dir.path(), &[]);
    let mut con = redrock.client();
    assert_eq!(q(&mut con, &["GET", "A"]), nil());
    assert_eq!(q(&mut con, &["GET", "B"]), bulk("b"));
}

// ---------------------------------------------------------------------------
// Persistence.

const LIBRARY: &str = "#!lua name=keeper\n\
     redis.register_function('keep', function(keys, args) return redis.call('INCRBY', keys[1], args[1]) end)\n\
     redis.register_function{function_name='look', flags={'no-writes'}, \
     callback=function(keys, args) return redis.call('GET', keys[1]) end}";
const OTHER_LIBRARY: &str = "#!lua name=gone\n\
     redis.register_function('vanish', function(keys, args) return 'here' end)";

#[test]
fn functions_survive_a_restart_and_the_script_cache_does_not() {
    let mut server = Server::start();
    let mut con = server.client();
    assert_eq!(q(&mut con, &["FUNCTION", "LOAD", LIBRARY]), bulk("keeper"));
    assert_eq!(
        q(&mut con, &["FUNCTION", "LOAD", OTHER_LIBRARY]),
        bulk("gone")
    );
    assert_eq!(q(&mut con, &["FCALL", "keep", "1", "n", "5"]), int(5));
    let sha = match q(&mut con, &["SCRIPT", "LOAD", "return 'cached'"]) {
        redis::Value::BulkString(b) => String::from_utf8(b).unwrap(),
        other => panic!("SCRIPT LOAD: {other:?}"),
    };
    assert_eq!(q(&mut con, &["EVALSHA", &sha, "0"]), bulk("cached"));
    assert_eq!(q(&mut con, &["FUNCTION", "DELETE", "gone"]), ok());
    drop(con);

    server.restart(&[]);
    let mut con = server.client();
    assert_eq!(q(&mut con, &["FCALL", "keep", "1", "n", "2"]), int(7));
    assert_eq!(q(&mut con, &["FCALL_RO", "look", "1", "n"]), bulk("7"));
    let mut raw = server.raw();
    assert_eq!(
        error(&mut raw, &["FCALL", "vanish", "0"]),
        "ERR Function not found"
    );
    assert_eq!(
        error(&mut raw, &["EVALSHA", &sha, "0"]),
        "NOSCRIPT No matching script. Please use EVAL."
    );
    assert_eq!(
        q(&mut con, &["SCRIPT", "EXISTS", &sha]),
        array(vec![int(0)])
    );
    let listed = q(&mut con, &["FUNCTION", "LIST"]);
    let listed = format!("{listed:?}");
    assert!(
        listed.contains("keeper") && !listed.contains("gone"),
        "FUNCTION LIST after restart: {listed}"
    );

    // Replaced code is what survives; kill -9 right after the reply too.
    let replaced = LIBRARY.replace(
        "INCRBY', keys[1], args[1])",
        "INCRBY', keys[1], args[1] * 10)",
    );
    assert_eq!(
        q(&mut con, &["FUNCTION", "LOAD", "REPLACE", &replaced]),
        bulk("keeper")
    );
    drop(con);
    server.kill9();
    let dir = server.dir.clone();
    let server = Server::start_in(&dir, &[]);
    let mut con = server.client();
    assert_eq!(q(&mut con, &["FCALL", "keep", "1", "n", "1"]), int(17));

    // FUNCTION FLUSH survives too.
    assert_eq!(q(&mut con, &["FUNCTION", "FLUSH"]), ok());
    drop(con);
    let mut server = server;
    server.restart(&[]);
    let mut raw = server.raw();
    assert_eq!(
        error(&mut raw, &["FCALL", "keep", "1", "n", "1"]),
        "ERR Function not found"
    );
    assert_eq!(
        q(&mut server.client(), &["FUNCTION", "LIST"]),
        array(vec![])
    );
}
