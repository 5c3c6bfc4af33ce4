//! A minimal plain-HTTP GET for tests that download artifacts from a
//! controller's file server on loopback.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use crate::{Error, Result};

/// Fetches `url` (`http://host:port/path` only) and returns the status code and body.
pub fn get(url: &str) -> Result<(u16, Vec<u8>)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| Error::Manifest(format!("{url}: only http:// URLs are supported")))?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let io = |e: std::io::Error| Error::io(Path::new(url), e);
    let mut stream = TcpStream::connect(host).map_err(io)?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .map_err(io)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(io)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| Error::Manifest(format!("{url}: malformed HTTP response")))?;
    let head = String::from_utf8_lossy(&response[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| Error::Manifest(format!("{url}: no status line")))?;
    Ok((status, response[split + 4..].to_vec()))
}
