//! A deliberately tiny blocking HTTP/1.1 client, so the tests see exactly
//! what goes over the wire (including a dropped connection) without pulling
//! in a client library.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

pub struct Client {
    addr: String,
}

impl Client {
    pub fn new(url: &str) -> Self {
        Self { addr: url.trim_start_matches("http://").to_string() }
    }

    fn connect(&self) -> std::io::Result<TcpStream> {
        let s = TcpStream::connect(&self.addr)?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        Ok(s)
    }

    fn send(
        &self,
        stream: &mut TcpStream,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> std::io::Result<()> {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: kts-test/1.0\r\n",
            self.addr
        );
        if let Some(ct) = content_type {
            req.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        stream.write_all(req.as_bytes())?;
        stream.write_all(body)
    }

    /// Sends a request; an `Err` means the connection ended without a
    /// (complete) response.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> std::io::Result<Resp> {
        let mut stream = self.connect()?;
        self.send(&mut stream, method, path, content_type, body)?;
        let mut reader = BufReader::new(stream);
        let (status, headers) = read_head(&mut reader)?;
        let mut body = Vec::new();
        if headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked")) {
            while let Some(chunk) = read_chunk(&mut reader)? {
                body.extend(chunk);
            }
        } else {
            reader.read_to_end(&mut body)?;
        }
        Ok(Resp { status, headers, body })
    }

    pub fn request(&self, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> Resp {
        self.try_request(method, path, content_type, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, None, b"")
    }

    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.request("POST", path, Some("application/json"), body.to_string().as_bytes())
    }

    pub fn put(&self, path: &str, body: &Value) -> Resp {
        self.request("PUT", path, Some("application/json"), body.to_string().as_bytes())
    }

    pub fn merge_patch(&self, path: &str, body: &Value) -> Resp {
        self.request("PATCH", path, Some("application/merge-patch+json"), body.to_string().as_bytes())
    }

    /// Server-side apply of a YAML (or JSON) document.
    pub fn apply(&self, path: &str, doc: &str) -> Resp {
        self.request("PATCH", path, Some("application/apply-patch+yaml"), doc.as_bytes())
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.request("DELETE", path, None, b"")
    }

    /// Starts a watch and returns a reader of its events.
    pub fn watch(&self, path: &str) -> Watch {
        let mut stream = self.connect().expect("connect");
        self.send(&mut stream, "GET", path, None, b"").expect("send watch");
        let mut reader = BufReader::new(stream);
        let (status, _) = read_head(&mut reader).expect("watch response head");
        assert_eq!(status, 200, "watch {path}");
        Watch { reader, buf: Vec::new() }
    }
}

pub struct Watch {
    reader: BufReader<TcpStream>,
    buf: Vec<u8>,
}

impl Watch {
    /// The next event, or `None` when the stream ends.
    pub fn next_event(&mut self) -> Option<Value> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return Some(serde_json::from_slice(&line).expect("watch event is JSON"));
            }
            match read_chunk(&mut self.reader) {
                Ok(Some(chunk)) => self.buf.extend(chunk),
                _ => return None,
            }
        }
    }
}

fn read_head(reader: &mut BufReader<TcpStream>) -> std::io::Result<(u16, Vec<(String, String)>)> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed without a response"));
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok((status, headers))
}

fn read_chunk(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Vec<u8>>> {
    let mut size_line = String::new();
    if reader.read_line(&mut size_line)? == 0 {
        return Ok(None);
    }
    let size = usize::from_str_radix(size_line.trim(), 16).map_err(std::io::Error::other)?;
    if size == 0 {
        return Ok(None);
    }
    let mut chunk = vec![0; size + 2];
    reader.read_exact(&mut chunk)?;
    chunk.truncate(size);
    Ok(Some(chunk))
}
