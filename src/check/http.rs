//! HTTP_GET / SSL_GET pieces: the request keepalived sends and an incremental, bounded
//! response parser that hashes the body while it streams.
//!
//! Digest semantics match keepalived's checker and genhash: MD5 over the raw bytes after the
//! header block (chunked framing is *not* decoded), cut at Content-Length when one is given.

use md5::{Digest, Md5};
use std::fmt::Write as _;
use std::net::SocketAddr;

/// Largest header block accepted; a bigger one fails the check (bounded memory).
pub const MAX_HEADER_BYTES: usize = 8192;
/// Most header lines parsed; more is treated as malformed.
const MAX_HEADERS: usize = 64;

/// `http_protocol` keyword: keepalived sends HTTP/1.0 without `Connection: close` unless
/// `1.0C` or `1.1` is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HttpProtocol {
    #[default]
    Http10,
    Http10Close,
    Http11,
}

/// Set of accepted status codes (100..=599), one bit each.
#[derive(Clone, PartialEq, Eq)]
pub struct StatusSet([u64; 8]);

impl StatusSet {
    pub const MIN: u16 = 100;
    pub const MAX: u16 = 599;

    pub fn empty() -> Self {
        StatusSet([0; 8])
    }

    /// keepalived's default when a url block names no status_code (even with a digest): 200-299.
    pub fn default_2xx() -> Self {
        let mut s = Self::empty();
        s.insert_range(200, 299);
        s
    }

    /// Adds `lo..=hi`; out-of-range or reversed bounds are ignored (config reports them).
    pub fn insert_range(&mut self, lo: u16, hi: u16) {
        if lo < Self::MIN || hi > Self::MAX || lo > hi {
            return;
        }
        for c in lo..=hi {
            let i = usize::from(c - Self::MIN);
            self.0[i / 64] |= 1 << (i % 64);
        }
    }

    pub fn contains(&self, code: u16) -> bool {
        if !(Self::MIN..=Self::MAX).contains(&code) {
            return false;
        }
        let i = usize::from(code - Self::MIN);
        self.0[i / 64] & (1 << (i % 64)) != 0
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    /// Parses a `status_code` argument list such as `200-299 400-499 503`.
    pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let mut s = Self::empty();
        for a in args {
            let (lo, hi) = match a.split_once('-') {
                Some((l, h)) => (l.parse().ok()?, h.parse().ok()?),
                None => {
                    let c = a.parse().ok()?;
                    (c, c)
                }
            };
            if lo < Self::MIN || hi > Self::MAX || lo > hi {
                return None;
            }
            s.insert_range(lo, hi);
        }
        Some(s)
    }
}

impl std::fmt::Debug for StatusSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let codes: Vec<u16> = (Self::MIN..=Self::MAX)
            .filter(|c| self.contains(*c))
            .collect();
        write!(f, "StatusSet({} codes", codes.len())?;
        if let (Some(a), Some(b)) = (codes.first(), codes.last()) {
            write!(f, " {a}..={b}")?;
        }
        write!(f, ")")
    }
}

/// Builds the GET request exactly as keepalived formats it. `vhost` wins over the address;
/// without it the Host header carries `addr:port` (IPv6 in brackets, RFC 2732).
pub fn build_request(
    path: &str,
    vhost: Option<&str>,
    dst: SocketAddr,
    proto: HttpProtocol,
) -> Vec<u8> {
    let mut s = String::with_capacity(96 + path.len());
    let minor = u8::from(proto == HttpProtocol::Http11);
    let _ = write!(
        s,
        "GET {path} HTTP/1.{minor}\r\nUser-Agent: KeepAliveClient\r\n"
    );
    if proto != HttpProtocol::Http10 {
        s.push_str("Connection: close\r\n");
    }
    match (vhost, dst) {
        (Some(v), _) => {
            let _ = write!(s, "Host: {v}\r\n\r\n");
        }
        (None, SocketAddr::V4(a)) => {
            let _ = write!(s, "Host: {}:{}\r\n\r\n", a.ip(), a.port());
        }
        (None, SocketAddr::V6(a)) => {
            let _ = write!(s, "Host: [{}]:{}\r\n\r\n", a.ip(), a.port());
        }
    }
    s.into_bytes()
}

/// Why a response could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Header block larger than [`MAX_HEADER_BYTES`].
    HeaderTooLarge,
    /// Not an HTTP response (bad status line, header syntax, Content-Length).
    Malformed,
    /// Connection closed before a full header block arrived.
    NoData,
}

/// A fully received response: status and body digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub digest: [u8; 16],
    /// Body bytes received, up to Content-Length when one is given.
    pub body_len: u64,
}

/// Incremental response parser: header bytes are buffered up to a cap, body bytes are only
/// hashed, so memory stays bounded whatever the peer sends.
pub struct ResponseParser {
    head: Vec<u8>,
    body: Option<Body>,
    failed: Option<ParseError>,
}

struct Body {
    status: u16,
    content_length: Option<u64>,
    received: u64,
    md5: Md5,
}

/// Progress after feeding bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// More bytes (or EOF) needed.
    Partial,
    /// Content-Length bytes received: the response is complete without waiting for EOF.
    Complete(Response),
    Failed(ParseError),
}

impl Default for ResponseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseParser {
    pub fn new() -> Self {
        ResponseParser {
            head: Vec::new(),
            body: None,
            failed: None,
        }
    }

    /// Feeds the next bytes read from the server.
    pub fn feed(&mut self, mut data: &[u8]) -> Progress {
        if let Some(e) = self.failed {
            return Progress::Failed(e);
        }
        if self.body.is_none() {
            // Only look at what could still belong to the header block.
            let room = MAX_HEADER_BYTES - self.head.len();
            let take = data.len().min(room);
            let old = self.head.len();
            self.head.extend_from_slice(&data[..take]);
            match self.parse_head() {
                Ok(Some(hlen)) => {
                    // Bytes past the header in this chunk are body.
                    let consumed = hlen - old;
                    data = &data[consumed..];
                    self.head = Vec::new();
                }
                Ok(None) if self.head.len() >= MAX_HEADER_BYTES => {
                    return self.fail(ParseError::HeaderTooLarge)
                }
                Ok(None) => return Progress::Partial,
                Err(e) => return self.fail(e),
            }
        }
        let Some(body) = self.body.as_mut() else {
            return Progress::Partial;
        };
        let len = data.len() as u64;
        let hashed = match body.content_length {
            Some(cl) => cl.saturating_sub(body.received).min(len),
            None => len,
        };
        // `hashed <= data.len()`, so the cast cannot truncate.
        body.md5.update(&data[..hashed as usize]);
        // Past Content-Length nothing counts, so the result does not depend on read sizes.
        let counted = if body.content_length.is_some() {
            hashed
        } else {
            len
        };
        body.received = body.received.saturating_add(counted);
        match body.content_length {
            Some(cl) if body.received >= cl => Progress::Complete(self.finish_body()),
            _ => Progress::Partial,
        }
    }

    /// Bytes held in memory (the partial header block); never above [`MAX_HEADER_BYTES`].
    pub fn buffered_bytes(&self) -> usize {
        self.head.len()
    }

    /// The peer closed the connection: the response ends here.
    pub fn finish(&mut self) -> Result<Response, ParseError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if self.body.is_none() {
            return Err(if self.head.is_empty() {
                ParseError::NoData
            } else {
                ParseError::Malformed
            });
        }
        Ok(self.finish_body())
    }

    fn finish_body(&mut self) -> Response {
        let b = self.body.take().expect("body present");
        Response {
            status: b.status,
            digest: b.md5.finalize().into(),
            body_len: b.received,
        }
    }

    fn fail(&mut self, e: ParseError) -> Progress {
        self.failed = Some(e);
        self.head = Vec::new();
        Progress::Failed(e)
    }

    /// Returns the header length once the block is complete.
    fn parse_head(&mut self) -> Result<Option<usize>, ParseError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let n = match resp.parse(&self.head) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(ParseError::Malformed),
        };
        let status = resp.code.ok_or(ParseError::Malformed)?;
        let mut content_length = None;
        for h in resp.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let v = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .ok_or(ParseError::Malformed)?;
                if content_length.is_some_and(|c| c != v) {
                    return Err(ParseError::Malformed);
                }
                content_length = Some(v);
            }
        }
        self.body = Some(Body {
            status,
            content_length,
            received: 0,
            md5: Md5::new(),
        });
        Ok(Some(n))
    }
}

/// Formats a digest as keepalived prints it (lower-case hex).
pub fn digest_hex(d: &[u8; 16]) -> String {
    d.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Parses the `digest` keyword's 32 hex characters.
pub fn parse_digest(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 || !s.is_ascii() {
        return None;
    }
    let mut d = [0u8; 16];
    for (i, b) in d.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5_of(b: &[u8]) -> [u8; 16] {
        Md5::digest(b).into()
    }

    fn feed_all(p: &mut ResponseParser, chunks: &[&[u8]]) -> Result<Response, ParseError> {
        for c in chunks {
            match p.feed(c) {
                Progress::Partial => {}
                Progress::Complete(r) => return Ok(r),
                Progress::Failed(e) => return Err(e),
            }
        }
        p.finish()
    }

    #[test]
    fn request_matches_keepalived_template() {
        let dst: SocketAddr = "10.0.0.2:8080".parse().unwrap();
        assert_eq!(
            build_request("/health", None, dst, HttpProtocol::Http10),
            b"GET /health HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 10.0.0.2:8080\r\n\r\n"
        );
        assert_eq!(
            build_request("/", Some("www.example.com"), dst, HttpProtocol::Http11),
            b"GET / HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example.com\r\n\r\n"
        );
        let v6: SocketAddr = "[fd00::1]:80".parse().unwrap();
        assert_eq!(
            build_request("/", None, v6, HttpProtocol::Http10Close),
            b"GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: [fd00::1]:80\r\n\r\n"
        );
    }

    #[test]
    fn status_set_ranges_and_default() {
        let s = StatusSet::parse(["200-299", "400-499", "503"]).unwrap();
        assert!(s.contains(200) && s.contains(299) && s.contains(404) && s.contains(503));
        assert!(!s.contains(300) && !s.contains(500) && !s.contains(99) && !s.contains(600));
        assert!(StatusSet::parse(["600"]).is_none());
        assert!(StatusSet::parse(["300-200"]).is_none());
        assert!(StatusSet::parse(["abc"]).is_none());
        let d = StatusSet::default_2xx();
        assert!(d.contains(204) && !d.contains(301));
        assert!(StatusSet::empty().is_empty() && !d.is_empty());
    }

    #[test]
    fn digest_roundtrip() {
        let d = md5_of(b"hello\n");
        let hex = digest_hex(&d);
        assert_eq!(hex, "b1946ac92492d2347c6235b4d2611184");
        assert_eq!(parse_digest(&hex), Some(d));
        assert_eq!(parse_digest("xyz"), None);
        assert_eq!(parse_digest(&"g".repeat(32)), None);
    }

    #[test]
    fn body_hashed_to_eof_byte_by_byte() {
        let raw = b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nhello world";
        let mut p = ResponseParser::new();
        let chunks: Vec<&[u8]> = raw.chunks(1).collect();
        let r = feed_all(&mut p, &chunks).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.digest, md5_of(b"hello world"));
        assert_eq!(r.body_len, 11);
    }

    #[test]
    fn content_length_completes_early_and_cuts_hash() {
        let mut p = ResponseParser::new();
        let r = p.feed(b"HTTP/1.1 500 Oops\r\nContent-Length: 3\r\n\r\nabcdef");
        assert_eq!(
            r,
            Progress::Complete(Response {
                status: 500,
                digest: md5_of(b"abc"),
                body_len: 3
            })
        );
    }

    #[test]
    fn chunked_body_hashed_raw_like_genhash() {
        let body = b"5\r\nhello\r\n0\r\n\r\n";
        let mut raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        raw.extend_from_slice(body);
        let mut p = ResponseParser::new();
        let r = feed_all(&mut p, &[&raw]).unwrap();
        assert_eq!(r.digest, md5_of(body));
    }

    #[test]
    fn failures() {
        let mut p = ResponseParser::new();
        assert_eq!(p.finish(), Err(ParseError::NoData));
        for bad in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.0 200 OK\r\nContent-Length: nope\r\n\r\n",
            b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ] {
            let r = ResponseParser::new().feed(bad);
            assert_eq!(r, Progress::Failed(ParseError::Malformed), "{bad:?}");
        }
        let mut p = ResponseParser::new();
        assert_eq!(p.feed(b"HTTP/1.0 200 OK\r\nX: y"), Progress::Partial);
        assert_eq!(p.finish(), Err(ParseError::Malformed));
        let mut p = ResponseParser::new();
        let mut big = b"HTTP/1.0 200 OK\r\nX: ".to_vec();
        big.resize(MAX_HEADER_BYTES + 10, b'a');
        assert_eq!(p.feed(&big), Progress::Failed(ParseError::HeaderTooLarge));
        // Once failed, stays failed and holds no buffer.
        assert_eq!(
            p.feed(b"\r\n\r\n"),
            Progress::Failed(ParseError::HeaderTooLarge)
        );
        assert_eq!(p.buffered_bytes(), 0);
    }
}
