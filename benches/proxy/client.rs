//! A lean HTTP/1.1 keep-alive client over a raw `TcpStream`: one request at a time,
//! the response decoded as it arrives, with a timestamp for the first body byte and
//! for every complete SSE event. Lean so that the load generator is not what limits.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::mock::{Scenario, ID_LEN};
use crate::Res;

/// One keep-alive connection.
pub struct Conn {
    stream: TcpStream,
    addr: SocketAddr,
    buf: Vec<u8>,
}

/// What one exchange looked like from the client.
#[derive(Default)]
pub struct Outcome {
    pub status: u16,
    /// When the request's first byte was written.
    pub start: Option<Instant>,
    /// First byte of the decoded response body.
    pub first_body: Option<Instant>,
    /// Last byte (terminating chunk) of the body.
    pub end: Option<Instant>,
    /// Arrival of each complete SSE event (only when asked for).
    pub events: Vec<Instant>,
    pub body: Vec<u8>,
}

impl Outcome {
    pub fn ttfb(&self) -> Option<Duration> {
        Some(self.first_body? - self.start?)
    }

    pub fn total(&self) -> Option<Duration> {
        Some(self.end? - self.start?)
    }
}

/// A request to send: where it goes and which registered body it carries.
pub struct Req<'a> {
    pub tag: &'a str,
    pub scenario: &'a Scenario,
    pub id: &'a [u8; ID_LEN],
    pub body_index: usize,
    pub body: &'a [u8],
}

/// How far to read the response.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// The whole body.
    End,
    /// Return once the first complete event is in (the stream stays open).
    FirstEvent,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> Res<Conn> {
        let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
            .await
            .map_err(|_| format!("connect to {addr} timed out"))??;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            addr,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    /// Sends `req` and reads the response (`until`); `track_events` timestamps each event.
    pub async fn exchange(
        &mut self,
        req: &Req<'_>,
        until: Until,
        track_events: bool,
        out: &mut Outcome,
    ) -> Res<()> {
        let head = format!(
            "POST /v1/responses HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
             accept: text/event-stream\r\nauthorization: Bearer bench-dummy-token\r\n\
             openai-beta: responses=experimental\r\noriginator: codex_cli_rs\r\n\
             user-agent: codex_cli_rs/0.60.0 (Linux; x86_64) bench\r\n\
             session_id: 0199a6e1-0000-7000-8000-00000000bec0\r\n\
             x-codex-turn-metadata: {{\"session_id\":\"0199a6e1-0000-7000-8000-00000000bec0\",\
             \"thread_id\":\"0199a6e1-0000-7000-8000-00000000bec0\",\"turn_id\":\"turn-{id}\",\
             \"request_kind\":\"turn\",\"history_initialization\":\"new\",\"sandbox\":\"seccomp\",\
             \"sandbox_mode\":\"workspace-write\",\"model\":\"gpt-5-codex\"}}\r\n\
             x-bench-tag: {tag}\r\nx-bench-id: {id}\r\nx-bench-body: {bi}\r\n\
             x-mock-scenario: {sc}\r\ncontent-length: {len}\r\n\r\n",
            addr = self.addr,
            tag = req.tag,
            id = std::str::from_utf8(req.id)?,
            bi = req.body_index,
            sc = req.scenario.header(),
            len = req.body.len(),
        );
        *out = Outcome::default();
        self.buf.clear();
        out.start = Some(Instant::now());
        write_all(&mut self.stream, head.as_bytes(), req.body).await?;
        read_response(&mut self.stream, &mut self.buf, until, track_events, out).await
    }
}

async fn write_all(stream: &mut TcpStream, a: &[u8], b: &[u8]) -> Res<()> {
    let mut bufs = [IoSlice::new(a), IoSlice::new(b)];
    let mut slices = &mut bufs[..];
    while !slices.is_empty() {
        let n = stream.write_vectored(slices).await?;
        if n == 0 {
            return Err("connection closed while sending the request".into());
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}

enum State {
    Head,
    /// Chunked body: bytes left in the current chunk (0 = expect a size line).
    Chunk(usize),
    /// After a chunk's data: its CRLF.
    ChunkEnd,
    /// Body with a content-length: bytes left.
    Length(usize),
    Done,
}

async fn read_response(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    until: Until,
    track_events: bool,
    out: &mut Outcome,
) -> Res<()> {
    let mut state = State::Head;
    let mut pos = 0; // parsed up to here in buf
    let mut scanned = 0; // body bytes searched for "\n\n"
    loop {
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.drain(..pos);
            pos = 0;
            buf.reserve(64 * 1024);
        }
        let n = stream.read_buf(buf).await?;
        let now = Instant::now();
        if n == 0 {
            return Err("connection closed before the response ended".into());
        }
        let before = out.body.len();
        loop {
            match state {
                State::Head => {
                    let Some(end) = memchr::memmem::find(&buf[pos..], b"\r\n\r\n") else {
                        break;
                    };
                    let head = &buf[pos..pos + end];
                    pos += end + 4;
                    let (status, framing) = parse_head(head)?;
                    out.status = status;
                    state = framing;
                }
                State::Chunk(0) => {
                    let Some(eol) = memchr::memmem::find(&buf[pos..], b"\r\n") else {
                        break;
                    };
                    let line = std::str::from_utf8(&buf[pos..pos + eol])?;
                    let size =
                        usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                            .map_err(|_| format!("bad chunk size line {line:?}"))?;
                    if size == 0 {
                        // No trailers expected: the last-chunk line then a blank line.
                        if buf.len() < pos + eol + 4 {
                            break;
                        }
                        if &buf[pos + eol + 2..pos + eol + 4] != b"\r\n" {
                            return Err("trailers after the last chunk are not expected".into());
                        }
                        pos += eol + 4;
                        state = State::Done;
                    } else {
                        pos += eol + 2;
                        state = State::Chunk(size);
                    }
                }
                State::Chunk(left) => {
                    let take = left.min(buf.len() - pos);
                    if take == 0 {
                        break;
                    }
                    out.body.extend_from_slice(&buf[pos..pos + take]);
                    pos += take;
                    state = if take == left {
                        State::ChunkEnd
                    } else {
                        State::Chunk(left - take)
                    };
                }
                State::ChunkEnd => {
                    if buf.len() < pos + 2 {
                        break;
                    }
                    if &buf[pos..pos + 2] != b"\r\n" {
                        return Err("chunk data not followed by CRLF".into());
                    }
                    pos += 2;
                    state = State::Chunk(0);
                }
                State::Length(left) => {
                    let take = left.min(buf.len() - pos);
                    out.body.extend_from_slice(&buf[pos..pos + take]);
                    pos += take;
                    state = if take == left {
                        State::Done
                    } else {
                        State::Length(left - take)
                    };
                    if take < left {
                        break;
                    }
                }
                State::Done => break,
            }
        }
        if out.body.len() > before {
            out.first_body.get_or_insert(now);
            if track_events || until == Until::FirstEvent {
                while let Some(k) = memchr::memmem::find(&out.body[scanned..], b"\n\n") {
                    out.events.push(now);
                    scanned += k + 2;
                }
                scanned = scanned.max(out.body.len().saturating_sub(1));
            }
        }
        if matches!(state, State::Done) {
            out.end = Some(now);
            if pos != buf.len() {
                return Err("bytes after the end of the response".into());
            }
            return Ok(());
        }
        if until == Until::FirstEvent && !out.events.is_empty() {
            return Ok(());
        }
    }
}

fn parse_head(head: &[u8]) -> Res<(u16, State)> {
    let text = std::str::from_utf8(head)?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut framing = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            framing = Some(State::Chunk(0));
        } else if name.eq_ignore_ascii_case("content-length") && framing.is_none() {
            let n: usize = value
                .parse()
                .map_err(|_| format!("bad content-length {value:?}"))?;
            framing = Some(if n == 0 {
                State::Done
            } else {
                State::Length(n)
            });
        } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
            return Err("the server closes the connection; the bench needs keep-alive".into());
        }
    }
    Ok((
        status,
        framing.ok_or("response without content-length or chunked framing")?,
    ))
}
