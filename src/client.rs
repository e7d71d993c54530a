//! A small blocking RESP2 client: the `redrock` tool's connection to each
//! node, and MIGRATE's to its target.

use bytes::BytesMut;
use redis_protocol::resp2::decode::decode_bytes_mut;
use redis_protocol::resp2::encode::extend_encode;
use redis_protocol::resp2::types::BytesFrame;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

pub struct Client {
    stream: TcpStream,
    buffer: BytesMut,
    pub addr: String,
    /// How long a reply may take: a stopped node fails a call after it.
    timeout: Duration,
}

/// How long a reply may take unless the command says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl Client {
    /// Connects to `addr` (HOST:PORT), authenticating when a password is
    /// given; each reply may take up to `timeout`.
    pub fn connect(
        addr: &str,
        password: Option<&str>,
        timeout: Duration,
    ) -> Result<Client, String> {
        let target = addr
            .to_socket_addrs()
            .map_err(|e| format!("{addr}: not a HOST:PORT address ({e})"))?
            .next()
            .ok_or_else(|| format!("{addr}: the host has no address"))?;
        let stream = TcpStream::connect_timeout(&target, Duration::from_secs(5))
            .map_err(|e| format!("cannot connect to {addr}: {e} (is the node running?)"))?;
        let mut client = Client {
            stream,
            buffer: BytesMut::new(),
            addr: addr.to_string(),
            timeout,
        };
        client.set_timeout(timeout)?;
        if let Some(password) = password {
            client.ok(&["AUTH", password])?;
        }
        Ok(client)
    }

    /// Sets how long each reply may take (at least a millisecond).
    pub fn set_timeout(&mut self, timeout: Duration) -> Result<(), String> {
        self.timeout = timeout.max(Duration::from_millis(1));
        self.stream
            .set_read_timeout(Some(self.timeout))
            .map_err(|e| format!("{}: {e}", self.addr))
    }

    /// Sends one command and returns its reply; an error reply is `Err`.
    pub fn call(&mut self, args: &[&str]) -> Result<BytesFrame, String> {
        self.send(&[args])?;
        self.reply(args[0])
    }

    /// Sends many commands at once and returns their replies in order
    /// (pipelining: one round trip per batch, not per command); an error
    /// reply to any is `Err`.
    pub fn pipeline(&mut self, commands: &[Vec<String>]) -> Result<Vec<BytesFrame>, String> {
        // Batches bound what waits in the sockets' buffers.
        const BATCH: usize = 1024;
        let mut replies = Vec::with_capacity(commands.len());
        for batch in commands.chunks(BATCH) {
            let batch: Vec<Vec<&str>> = batch
                .iter()
                .map(|command| command.iter().map(String::as_str).collect())
                .collect();
            let args: Vec<&[&str]> = batch.iter().map(Vec::as_slice).collect();
            self.send(&args)?;
            for command in &args {
                replies.push(self.reply(command[0])?);
            }
        }
        Ok(replies)
    }

    fn send(&mut self, commands: &[&[&str]]) -> Result<(), String> {
        let commands: Vec<Vec<&[u8]>> = commands
            .iter()
            .map(|args| args.iter().map(|a| a.as_bytes()).collect())
            .collect();
        self.send_binary(&commands)
    }

    /// Sends commands whose arguments may be any bytes, at once; read
    /// their replies with [`Client::read_reply`].
    pub fn send_binary(&mut self, commands: &[Vec<&[u8]>]) -> Result<(), String> {
        let mut out = BytesMut::new();
        for args in commands {
            let frame = BytesFrame::Array(
                args.iter()
                    .map(|a| BytesFrame::BulkString(a.to_vec().into()))
                    .collect(),
            );
            extend_encode(&mut out, &frame, false).map_err(|e| e.to_string())?;
        }
        self.stream
            .write_all(&out)
            .map_err(|e| format!("{}: {e}", self.addr))
    }

    /// Reads the reply to the command `name`; an error reply is `Err`.
    fn reply(&mut self, name: &str) -> Result<BytesFrame, String> {
        match self.read_frame(name)? {
            BytesFrame::Error(e) => Err(format!("{} answered {name}: {e}", self.addr)),
            frame => Ok(frame),
        }
    }

    /// Reads the next reply, an error reply as a frame like any other.
    pub fn read_reply(&mut self) -> Result<BytesFrame, String> {
        self.read_frame("the command")
    }

    fn read_frame(&mut self, name: &str) -> Result<BytesFrame, String> {
        loop {
            match decode_bytes_mut(&mut self.buffer) {
                Ok(Some((frame, _, _))) => return Ok(frame),
                Ok(None) => {}
                Err(e) => return Err(format!("{}: bad reply: {e}", self.addr)),
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk).map_err(|e| match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => format!(
                    "{} did not answer {name} within {:?} (is the node stopped or overloaded?)",
                    self.addr, self.timeout
                ),
                _ => format!("{}: {e}", self.addr),
            })?;
            if n == 0 {
                return Err(format!("{} closed the connection", self.addr));
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    /// A command whose reply is text (status or bulk).
    pub fn text(&mut self, args: &[&str]) -> Result<String, String> {
        match self.call(args)? {
            BytesFrame::SimpleString(s) | BytesFrame::BulkString(s) => {
                Ok(String::from_utf8_lossy(&s).into_owned())
            }
            other => Err(format!("{}: unexpected reply {other:?}", self.addr)),
        }
    }

    /// A command that must answer OK.
    pub fn ok(&mut self, args: &[&str]) -> Result<(), String> {
        self.text(args).map(drop)
    }
}
