//! The metrics page over HTTP. A connection to the main port whose first
//! bytes are an HTTP request line is served here and closed, so `curl
//! host:port/metrics` works with no setup; RESP clients never send such a
//! line. `metrics-port` serves the same page on a port of its own.

use super::Server;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
];

/// The most a request's head may take before it is refused.
const MAX_HEAD: usize = 16 * 1024;

/// Whether `input` starts like an HTTP request: a method, a space and a
/// path. Enough of the line must have arrived to tell; a RESP request
/// starts with `*`, an inline command with a Redis command name.
pub fn is_http_request(input: &[u8]) -> bool {
    METHODS.iter().any(|method| {
        input.len() > method.len() + 1
            && input.starts_with(method.as_bytes())
            && input[method.len()] == b' '
            && input[method.len() + 1] == b'/'
    })
}

/// Answers one HTTP request whose first bytes are in `input`, then closes.
pub async fn serve(server: &Server, stream: &mut TcpStream, mut input: Vec<u8>) {
    let read_head = async {
        while !input.windows(4).any(|w| w == b"\r\n\r\n") && input.len() < MAX_HEAD {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => input.extend_from_slice(&chunk[..n]),
            }
        }
    };
    // A client that never finishes its request head is dropped.
    let _ = tokio::time::timeout(Duration::from_secs(10), read_head).await;
    let line = input.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let response = match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let body = crate::metrics::render(server);
            let length = body.len();
            let body = if method == "HEAD" { "" } else { &body };
            response(
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                body,
                length,
            )
        }
        ("GET" | "HEAD", _) => {
            let body = "not found: the metrics are at /metrics\n";
            response("404 Not Found", "text/plain", body, body.len())
        }
        _ => {
            let body = "only GET /metrics is served\n";
            let mut r = response("405 Method Not Allowed", "text/plain", body, body.len());
            r.insert_str(r.find("\r\n").map_or(0, |i| i + 2), "Allow: GET, HEAD\r\n");
            r
        }
    };
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn response(status: &str, content_type: &str, body: &str, length: usize) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n\
         Connection: close\r\n\r\n{body}"
    )
}

/// Serves the metrics page on a port of its own (`metrics-port`).
pub async fn metrics_listener(server: Arc<Server>, listener: TcpListener) {
    let mut shutdown = server.shutdown_signal();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let Ok((mut stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let server = server.clone();
        tokio::spawn(async move { serve(&server, &mut stream, Vec::new()).await });
    }
}
