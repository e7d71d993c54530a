//! Reading a server's metrics page: one HTTP request, the Prometheus text
//! parsed, and a sample's value.

use prometheus_parse::{Scrape, Value};
use std::io::{Read, Write};
use std::net::TcpStream;

/// One HTTP request to `port`: the status line and the body.
pub fn http(port: u16, request: &str) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    (head.lines().next().unwrap().to_string(), body.to_string())
}

pub fn scrape(port: u16) -> Scrape {
    let (status, body) = http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text format")
}

/// The value of the sample `metric` whose labels include `labels`.
pub fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<Value> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| s.value.clone())
}

pub fn number(v: Option<Value>) -> f64 {
    match v {
        Some(Value::Counter(n) | Value::Gauge(n) | Value::Untyped(n)) => n,
        other => panic!("not a number: {other:?}"),
    }
}

/// One side of a node's slot move series: `migration` (from it) or
/// `import` (into it).
#[derive(Debug, PartialEq)]
pub struct MoveMetrics {
    /// The states whose gauge is 1: at most one.
    pub state: Vec<&'static str>,
    pub slots: (f64, f64),
    pub keys: f64,
    pub bytes: f64,
    pub succeeded: f64,
    pub failed: f64,
}

impl MoveMetrics {
    /// What a node shows before any move.
    pub fn none() -> MoveMetrics {
        MoveMetrics {
            state: vec![],
            slots: (-1.0, -1.0),
            keys: 0.0,
            bytes: 0.0,
            succeeded: 0.0,
            failed: 0.0,
        }
    }
}

/// The slot move series of `side` on `server`'s metrics page; each must
/// be there.
pub fn move_metrics(server: &super::Server, side: &str) -> MoveMetrics {
    let page = scrape(server.port);
    let get = |name: String, labels: &[(&str, &str)]| number(value(&page, &name, labels));
    let finished = |outcome| {
        get(
            format!("redrock_slot_{side}s_total"),
            &[("outcome", outcome)],
        )
    };
    MoveMetrics {
        state: ["start", "success", "fail"]
            .into_iter()
            .filter(|state| get(format!("redrock_slot_{side}_state"), &[("state", state)]) == 1.0)
            .collect(),
        slots: (
            get(format!("redrock_slot_{side}_first_slot"), &[]),
            get(format!("redrock_slot_{side}_last_slot"), &[]),
        ),
        keys: get(format!("redrock_slot_{side}_keys_total"), &[]),
        bytes: get(format!("redrock_slot_{side}_bytes_total"), &[]),
        succeeded: finished("success"),
        failed: finished("fail"),
    }
}
