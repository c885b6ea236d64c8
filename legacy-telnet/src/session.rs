//! One client's session: bytes to Telnet events (the [`Parser`]), events
//! to lines with editing and a length limit, lines to commands, replies to
//! CRLF text. Every limit is enforced here: idle time, line length, write
//! time and the total output of the connection. Whatever a client sends,
//! the worst it can do is end its own session.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::broadcast;

use crate::Limits;
use crate::commands::{self, Context};
use crate::negotiation::Negotiator;
use crate::protocol::{Event, Parser, escape_iac};

pub const BANNER: &str = "ShopDotCom warehouse terminal. Type HELP for commands.";
const PROMPT: &[u8] = b"shop> ";
/// How long one write may wait on a client that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Quit,
    ClientClosed,
    Idle,
    OutputLimit,
    ShutDown,
    /// A read or write failed or timed out.
    Broken,
}

/// The output side, with its budget.
struct Output {
    stream: tokio::net::tcp::OwnedWriteHalf,
    sent: usize,
    limit: usize,
}

impl Output {
    /// Writes raw bytes; `Err` ends the session.
    async fn raw(&mut self, bytes: &[u8]) -> Result<(), End> {
        if self.sent + bytes.len() > self.limit {
            let notice = b"\r\noutput limit of this connection reached; goodbye.\r\n";
            let _ = tokio::time::timeout(WRITE_TIMEOUT, self.stream.write_all(notice)).await;
            return Err(End::OutputLimit);
        }
        self.sent += bytes.len();
        match tokio::time::timeout(WRITE_TIMEOUT, self.stream.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(End::Broken),
        }
    }

    /// Writes lines of text, each ended with CR LF, 255 bytes escaped.
    async fn lines(&mut self, lines: &[String]) -> Result<(), End> {
        let mut bytes = Vec::new();
        for line in lines {
            bytes.extend(escape_iac(line.as_bytes()));
            bytes.extend_from_slice(b"\r\n");
        }
        self.raw(&bytes).await
    }
}

/// Runs a session to its end.
pub async fn run(
    stream: TcpStream,
    context: Arc<Context>,
    limits: Limits,
    mut shutdown: broadcast::Receiver<()>,
) -> End {
    let _ = stream.set_nodelay(true);
    let (mut input, output) = stream.into_split();
    let mut out = Output {
        stream: output,
        sent: 0,
        limit: limits.max_output_bytes,
    };
    let end: Result<(), End> = async {
        out.lines(&[BANNER.to_owned()]).await?;
        out.raw(PROMPT).await?;
        let mut parser = Parser::default();
        let mut negotiator = Negotiator::default();
        let mut line: Vec<u8> = Vec::new();
        let mut overflowed = false;
        let mut buffer = vec![0u8; 4096];
        loop {
            let read = tokio::select! {
                read = tokio::time::timeout(limits.idle_timeout, input.read(&mut buffer)) => read,
                _ = shutdown.recv() => {
                    out.lines(&["".into(), "The terminal is shutting down. Goodbye.".into()]).await?;
                    return Err(End::ShutDown);
                }
            };
            let n = match read {
                Err(_) => {
                    out.lines(&["".into(), "Idle too long; goodbye.".into()]).await?;
                    return Err(End::Idle);
                }
                Ok(Ok(0)) => return Err(End::ClientClosed),
                Ok(Ok(n)) => n,
                Ok(Err(_)) => return Err(End::Broken),
            };
            let mut events = Vec::new();
            parser.feed(&buffer[..n], |e| events.push(e));
            for event in events {
                match event {
                    Event::Negotiate { verb, option } => {
                        if let Some(reply) = negotiator.receive(verb, option) {
                            out.raw(&reply).await?;
                        }
                    }
                    Event::Data(byte) => {
                        if line.len() < limits.max_line_bytes {
                            line.push(byte);
                        } else {
                            overflowed = true;
                        }
                    }
                    Event::EraseChar => {
                        // Remove one whole character, not one byte of it.
                        while let Some(byte) = line.pop() {
                            if byte & 0xC0 != 0x80 {
                                break;
                            }
                        }
                    }
                    Event::EraseLine => line.clear(),
                    Event::EndOfLine => {
                        if overflowed {
                            out.lines(&[format!("line too long: at most {} bytes; it was ignored", limits.max_line_bytes)]).await?;
                        } else {
                            let text = String::from_utf8_lossy(&line);
                            let reply = commands::execute(commands::parse(&text), &context).await;
                            out.lines(&reply.lines).await?;
                            if reply.close {
                                return Err(End::Quit);
                            }
                        }
                        line.clear();
                        overflowed = false;
                        out.raw(PROMPT).await?;
                    }
                }
            }
        }
    }
    .await;
    let end = match end {
        Ok(()) => End::ClientClosed,
        Err(end) => end,
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), out.stream.shutdown()).await;
    end
}
