//! List commands, blocking ones included, against the real server.

mod common;
use common::*;

fn strings(con: &mut redis::Connection, args: &[&str]) -> Vec<String> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con).unwrap()
}

/// A raw reply on one line, its parts separated by spaces.
fn flat(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply)
        .trim_end()
        .replace("\r\n", " ")
}

#[test]
fn push_pop_and_index() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    assert_eq!(q(&mut con, &["RPUSH", "l", "b", "c"]), int(2));
    assert_eq!(q(&mut con, &["LPUSH", "l", "a", "z"]), int(4));
    assert_eq!(
        strings(&mut con, &["LRANGE", "l", "0", "-1"]),
        ["z", "a", "b", "c"]
    );
    assert_eq!(q(&mut con, &["LPUSHX", "nope", "a"]), int(0));
    assert_eq!(q(&mut con, &["EXISTS", "nope"]), int(0));
    assert_eq!(q(&mut con, &["RPUSHX", "l", "d"]), int(5));
    assert_eq!(q(&mut con, &["LPOP", "l"]), bulk("z"));
    assert_eq!(strings(&mut con, &["RPOP", "l", "2"]), ["d", "c"]);
    assert_eq!(q(&mut con, &["LLEN", "l"]), int(2));
    assert_eq!(q(&mut con, &["LINDEX", "l", "-1"]), bulk("b"));
    assert_eq!(q(&mut con, &["LINDEX", "l", "5"]), nil());
    assert_eq!(q(&mut con, &["LSET", "l", "-2", "A"]), ok());
    assert_eq!(
        error(&mut raw, &["LSET", "l", "9", "x"]),
        "ERR index out of range"
    );
    assert_eq!(
        error(&mut raw, &["LSET", "nope", "0", "x"]),
        "ERR no such key"
    );
    assert_eq!(q(&mut con, &["LPOP", "nope"]), nil());
    assert_eq!(flat(&raw.command(&["LPOP", "nope", "1"])), "*-1");
    assert_eq!(flat(&raw.command(&["LPOP", "l", "0"])), "*0");
    assert_eq!(
        error(&mut raw, &["LPOP", "l", "-1"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        error(&mut raw, &["LPOP", "l", "1", "2"]),
        "ERR wrong number of arguments for 'lpop' command"
    );
    assert_eq!(strings(&mut con, &["LPOP", "l", "10"]), ["A", "b"]);
    assert_eq!(
        q(&mut con, &["EXISTS", "l"]),
        int(0),
        "an emptied list is gone"
    );
    q(&mut con, &["SET", "s", "x"]);
    assert_eq!(
        error(&mut raw, &["LPUSH", "s", "a"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn edits_in_the_middle() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    q(&mut con, &["RPUSH", "l", "a", "b", "c", "b", "d", "b"]);
    assert_eq!(q(&mut con, &["LINSERT", "l", "BEFORE", "c", "X"]), int(7));
    assert_eq!(q(&mut con, &["LINSERT", "l", "AFTER", "d", "Y"]), int(8));
    assert_eq!(
        q(&mut con, &["LINSERT", "l", "AFTER", "nope", "Y"]),
        int(-1)
    );
    assert_eq!(q(&mut con, &["LINSERT", "none", "AFTER", "a", "Y"]), int(0));
    assert_eq!(
        error(&mut raw, &["LINSERT", "l", "MIDDLE", "a", "Y"]),
        "ERR syntax error"
    );
    assert_eq!(
        strings(&mut con, &["LRANGE", "l", "0", "-1"]),
        ["a", "b", "X", "c", "b", "d", "Y", "b"]
    );
    assert_eq!(q(&mut con, &["LPOS", "l", "b"]), int(1));
    assert_eq!(q(&mut con, &["LPOS", "l", "b", "RANK", "-1"]), int(7));
    assert_eq!(
        q(&mut con, &["LPOS", "l", "b", "COUNT", "0"]),
        array(vec![int(1), int(4), int(7)])
    );
    assert_eq!(
        q(
            &mut con,
            &["LPOS", "l", "b", "RANK", "2", "COUNT", "5", "MAXLEN", "5"]
        ),
        array(vec![int(4)])
    );
    assert_eq!(q(&mut con, &["LPOS", "l", "zz"]), nil());
    assert_eq!(
        error(&mut raw, &["LPOS", "l", "b", "RANK", "0"]),
        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
    );
    assert_eq!(q(&mut con, &["LREM", "l", "-1", "b"]), int(1));
    assert_eq!(q(&mut con, &["LREM", "l", "0", "b"]), int(2));
    assert_eq!(
        strings(&mut con, &["LRANGE", "l", "0", "-1"]),
        ["a", "X", "c", "d", "Y"]
    );
    assert_eq!(q(&mut con, &["LTRIM", "l", "1", "-2"]), ok());
    assert_eq!(
        strings(&mut con, &["LRANGE", "l", "0", "-1"]),
        ["X", "c", "d"]
    );
    assert_eq!(q(&mut con, &["LTRIM", "l", "5", "10"]), ok());
    assert_eq!(q(&mut con, &["EXISTS", "l"]), int(0));
}

#[test]
fn moves_between_lists() {
    let server = Server::start();
    let mut con = server.client();
    q(&mut con, &["RPUSH", "l", "a", "b", "c"]);
    assert_eq!(
        q(&mut con, &["LMOVE", "l", "l", "LEFT", "RIGHT"]),
        bulk("a")
    );
    assert_eq!(
        strings(&mut con, &["LRANGE", "l", "0", "-1"]),
        ["b", "c", "a"]
    );
    assert_eq!(q(&mut con, &["RPOPLPUSH", "l", "m"]), bulk("a"));
    assert_eq!(
        q(&mut con, &["LMOVE", "l", "m", "RIGHT", "RIGHT"]),
        bulk("c")
    );
    assert_eq!(strings(&mut con, &["LRANGE", "m", "0", "-1"]), ["a", "c"]);
    assert_eq!(q(&mut con, &["LMOVE", "nope", "m", "LEFT", "LEFT"]), nil());
    assert_eq!(
        q(
            &mut con,
            &["LMPOP", "2", "nope", "m", "RIGHT", "COUNT", "5"]
        ),
        array(vec![bulk("m"), array(vec![bulk("c"), bulk("a")])])
    );
    assert_eq!(q(&mut con, &["LMPOP", "1", "m", "LEFT"]), nil());
}

#[test]
fn windows_stay_bounded_on_a_big_list() {
    let server = Server::start();
    let mut con = server.client();
    for chunk in 0..20 {
        let mut cmd = redis::cmd("RPUSH");
        cmd.arg("big");
        for i in chunk * 1000..(chunk + 1) * 1000 {
            cmd.arg(i);
        }
        let _: i64 = cmd.query(&mut con).unwrap();
    }
    assert_eq!(
        strings(&mut con, &["LRANGE", "big", "10000", "10002"]),
        ["10000", "10001", "10002"]
    );
    assert_eq!(q(&mut con, &["LINDEX", "big", "-1"]), bulk("19999"));
    assert_eq!(
        q(&mut con, &["LINSERT", "big", "BEFORE", "5", "x"]),
        int(20_001)
    );
    assert_eq!(
        strings(&mut con, &["LRANGE", "big", "4", "6"]),
        ["4", "x", "5"]
    );
    assert_eq!(q(&mut con, &["LREM", "big", "1", "19990"]), int(1));
    assert_eq!(
        strings(&mut con, &["LRANGE", "big", "-10", "-9"]),
        ["19989", "19991"]
    );
    assert_eq!(q(&mut con, &["DEL", "big"]), int(1));
}

#[test]
fn blocked_pop_is_woken_by_a_push_from_another_client() {
    let server = Server::start();
    let mut con = server.client();
    let mut waiter = server.raw();
    waiter.send(&RawClient::encode(&["BLPOP", "empty", "l", "0"]));
    wait_blocked(&mut con, 1);
    assert_eq!(q(&mut con, &["RPUSH", "l", "x", "y"]), int(2));
    assert_eq!(flat(&waiter.read_reply()), "*2 $1 l $1 x");
    wait_blocked(&mut con, 0);
    assert_eq!(q(&mut con, &["LLEN", "l"]), int(1));
    // Data present: no wait at all.
    assert_eq!(flat(&waiter.command(&["BRPOP", "l", "0"])), "*2 $1 l $1 y");
    assert_eq!(
        flat(&waiter.command(&["BLPOP", "l", "x"])),
        "-ERR timeout is not a float or out of range"
    );
    assert_eq!(
        flat(&waiter.command(&["BLPOP", "l", "-1"])),
        "-ERR timeout is negative"
    );
    q(&mut con, &["SET", "s", "x"]);
    assert_eq!(
        flat(&waiter.command(&["BLPOP", "s", "0"])),
        "-WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn blocked_clients_are_served_first_come_first_served() {
    let server = Server::start();
    let mut con = server.client();
    let mut first = server.raw();
    let mut second = server.raw();
    first.send(&RawClient::encode(&["BLPOP", "q", "0"]));
    wait_blocked(&mut con, 1);
    second.send(&RawClient::encode(&["BRPOP", "q", "0"]));
    wait_blocked(&mut con, 2);
    q(&mut con, &["RPUSH", "q", "one"]);
    assert_eq!(flat(&first.read_reply()), "*2 $1 q $3 one");
    wait_blocked(&mut con, 1);
    q(&mut con, &["RPUSH", "q", "two", "three"]);
    assert_eq!(flat(&second.read_reply()), "*2 $1 q $5 three");
    wait_blocked(&mut con, 0);
    assert_eq!(strings(&mut con, &["LRANGE", "q", "0", "-1"]), ["two"]);
    // One push of two elements serves two waiters.
    q(&mut con, &["DEL", "q"]);
    first.send(&RawClient::encode(&["BLPOP", "q", "0"]));
    wait_blocked(&mut con, 1);
    second.send(&RawClient::encode(&["BLPOP", "q", "0"]));
    wait_blocked(&mut con, 2);
    q(&mut con, &["RPUSH", "q", "a", "b"]);
    assert_eq!(flat(&first.read_reply()), "*2 $1 q $1 a");
    assert_eq!(flat(&second.read_reply()), "*2 $1 q $1 b");
}

#[test]
fn a_waiter_that_cannot_be_served_passes_the_turn() {
    let server = Server::start();
    let mut con = server.client();
    let mut zset_waiter = server.raw();
    let mut list_waiter = server.raw();
    zset_waiter.send(&RawClient::encode(&["BZPOPMIN", "k", "0"]));
    wait_blocked(&mut con, 1);
    list_waiter.send(&RawClient::encode(&["BLPOP", "k", "0"]));
    wait_blocked(&mut con, 2);
    // The first waiter cannot take from a list: the second one is served,
    // as in Redis, and the first keeps waiting.
    assert_eq!(q(&mut con, &["LPUSH", "k", "x"]), int(1));
    assert_eq!(flat(&list_waiter.read_reply()), "*2 $1 k $1 x");
    wait_blocked(&mut con, 1);
    assert_eq!(q(&mut con, &["ZADD", "k", "1", "m"]), int(1));
    assert_eq!(flat(&zset_waiter.read_reply()), "*3 $1 k $1 m $1 1");
    wait_blocked(&mut con, 0);
}

#[test]
fn timeouts_disconnects_and_client_unblock() {
    let server = Server::start();
    let mut con = server.client();
    let mut waiter = server.raw();
    // Each times out with a null array after having blocked (seen in INFO
    // while it waits).
    for command in [
        vec!["BLPOP", "l", "1"],
        vec!["BRPOPLPUSH", "l", "m", "1"],
        vec!["BZPOPMIN", "z", "1"],
    ] {
        waiter.send(&RawClient::encode(&command));
        wait_blocked(&mut con, 1);
        assert_eq!(flat(&waiter.read_reply()), "*-1", "{command:?}");
        wait_blocked(&mut con, 0);
    }
    // A client that goes away while blocked leaves no waiter behind.
    {
        let mut gone = server.raw();
        gone.send(&RawClient::encode(&["BLPOP", "l", "0"]));
        wait_blocked(&mut con, 1);
    }
    wait_blocked(&mut con, 0);
    q(&mut con, &["RPUSH", "l", "kept"]);
    assert_eq!(q(&mut con, &["LLEN", "l"]), int(1));
    q(&mut con, &["DEL", "l"]);
    // CLIENT UNBLOCK, as a timeout and as an error.
    let id = String::from_utf8(waiter.command(&["CLIENT", "ID"])).unwrap();
    let id = id.trim_start_matches(':').trim_end().to_string();
    assert_eq!(q(&mut con, &["CLIENT", "UNBLOCK", &id]), int(0));
    waiter.send(&RawClient::encode(&["BLPOP", "l", "0"]));
    wait_blocked(&mut con, 1);
    assert_eq!(q(&mut con, &["CLIENT", "UNBLOCK", &id]), int(1));
    assert_eq!(flat(&waiter.read_reply()), "*-1");
    waiter.send(&RawClient::encode(&["BZPOPMAX", "z", "0"]));
    wait_blocked(&mut con, 1);
    assert_eq!(q(&mut con, &["CLIENT", "UNBLOCK", &id, "ERROR"]), int(1));
    assert_eq!(
        flat(&waiter.read_reply()),
        "-UNBLOCKED client unblocked via CLIENT UNBLOCK"
    );
    wait_blocked(&mut con, 0);
}

#[test]
fn blocking_moves_and_multi_pops() {
    let server = Server::start();
    let mut con = server.client();
    let mut mover = server.raw();
    let mut next = server.raw();
    mover.send(&RawClient::encode(&[
        "BLMOVE", "src", "dst", "LEFT", "RIGHT", "0",
    ]));
    wait_blocked(&mut con, 1);
    next.send(&RawClient::encode(&["BLPOP", "dst", "0"]));
    wait_blocked(&mut con, 2);
    q(&mut con, &["RPUSH", "src", "x"]);
    assert_eq!(flat(&mover.read_reply()), "$1 x");
    // BLMOVE's push into dst serves the client waiting there.
    assert_eq!(flat(&next.read_reply()), "*2 $3 dst $1 x");
    mover.send(&RawClient::encode(&[
        "BLMPOP", "0", "2", "a", "b", "RIGHT", "COUNT", "2",
    ]));
    wait_blocked(&mut con, 1);
    q(&mut con, &["RPUSH", "b", "1", "2", "3"]);
    assert_eq!(flat(&mover.read_reply()), "*2 $1 b *2 $1 3 $1 2");
    mover.send(&RawClient::encode(&["BZPOPMIN", "z1", "z2", "0"]));
    wait_blocked(&mut con, 1);
    q(&mut con, &["ZADD", "z2", "5", "m", "1", "n"]);
    assert_eq!(flat(&mover.read_reply()), "*3 $2 z2 $1 n $1 1");
    mover.send(&RawClient::encode(&[
        "BZMPOP", "0", "1", "z3", "MAX", "COUNT", "3",
    ]));
    wait_blocked(&mut con, 1);
    q(&mut con, &["ZADD", "z3", "1", "a", "2", "b"]);
    assert_eq!(
        flat(&mover.read_reply()),
        "*2 $2 z3 *2 *2 $1 b $1 2 *2 $1 a $1 1"
    );
    // A key renamed into place wakes its waiter too.
    mover.send(&RawClient::encode(&["BLPOP", "target", "0"]));
    wait_blocked(&mut con, 1);
    q(&mut con, &["RPUSH", "other", "moved"]);
    q(&mut con, &["RENAME", "other", "target"]);
    assert_eq!(flat(&mover.read_reply()), "*2 $6 target $5 moved");
}

#[test]
fn a_pipeline_waits_at_its_blocking_command() {
    let server = Server::start();
    let mut con = server.client();
    let mut waiter = server.raw();
    let mut pipeline = RawClient::encode(&["SET", "k", "1"]);
    pipeline.extend(RawClient::encode(&["BLPOP", "l", "0"]));
    pipeline.extend(RawClient::encode(&["GET", "k"]));
    waiter.send(&pipeline);
    // The reply before the blocking command is sent at once.
    assert_eq!(flat(&waiter.read_reply()), "+OK");
    wait_blocked(&mut con, 1);
    q(&mut con, &["LPUSH", "l", "v"]);
    assert_eq!(flat(&waiter.read_reply()), "*2 $1 l $1 v");
    assert_eq!(flat(&waiter.read_reply()), "$1 1");
}

#[test]
fn a_client_blocked_in_one_database_is_woken_by_writes_from_another() {
    let server = Server::start();
    let mut con = server.client();
    let mut moved_to = server.raw();
    assert_eq!(flat(&moved_to.command(&["SELECT", "1"])), "+OK");
    moved_to.send(&RawClient::encode(&["BLPOP", "jobs", "0"]));
    let mut copied_to = server.raw();
    assert_eq!(flat(&copied_to.command(&["SELECT", "1"])), "+OK");
    copied_to.send(&RawClient::encode(&["BRPOP", "copy", "0"]));
    wait_blocked(&mut con, 2);
    q(&mut con, &["RPUSH", "jobs", "a"]);
    assert_eq!(q(&mut con, &["MOVE", "jobs", "1"]), int(1));
    assert_eq!(flat(&moved_to.read_reply()), "*2 $4 jobs $1 a");
    q(&mut con, &["RPUSH", "src", "b"]);
    assert_eq!(q(&mut con, &["COPY", "src", "copy", "DB", "1"]), int(1));
    assert_eq!(flat(&copied_to.read_reply()), "*2 $4 copy $1 b");
    wait_blocked(&mut con, 0);
}
