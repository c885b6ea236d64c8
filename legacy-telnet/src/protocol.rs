//! Telnet framing (RFC 854): a byte-at-a-time state machine that turns the
//! stream into data bytes, commands, option negotiations and line ends,
//! whatever way the stream was cut into reads. `IAC IAC` is the data byte
//! 255; subnegotiations are skipped, with a bound on how much is held.

/// Interpret As Command.
pub const IAC: u8 = 255;
pub const DONT: u8 = 254;
pub const DO: u8 = 253;
pub const WONT: u8 = 252;
pub const WILL: u8 = 251;
/// Subnegotiation begin and end.
pub const SB: u8 = 250;
pub const SE: u8 = 240;
/// Interrupt Process and Abort Output, which end a partial line.
pub const IP: u8 = 244;
pub const AO: u8 = 245;
/// Erase Character and Erase Line.
pub const EC: u8 = 247;
pub const EL: u8 = 248;

/// The longest subnegotiation held before it is dropped unread.
const MAX_SUBNEGOTIATION: usize = 256;

/// What a run of bytes means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A byte of the user's text (including 255 from `IAC IAC`).
    Data(u8),
    /// The end of a line (`CR LF`, `CR NUL`, or a lone `LF`).
    EndOfLine,
    /// A negotiation: `verb` is WILL, WONT, DO or DONT.
    Negotiate { verb: u8, option: u8 },
    /// Erase the last character (`EC`, backspace or DEL).
    EraseChar,
    /// Erase the whole line (`EL`, or `IP`/`AO`).
    EraseLine,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Text,
    /// After a CR in text.
    CarriageReturn,
    /// After IAC.
    Command,
    /// After IAC WILL/WONT/DO/DONT.
    Option(u8),
    /// Inside IAC SB ... : skipping.
    Subnegotiation,
    /// After IAC inside a subnegotiation.
    SubnegotiationIac,
}

/// The parser; it keeps its state between reads.
#[derive(Debug)]
pub struct Parser {
    state: State,
    subnegotiation_len: usize,
}

impl Default for Parser {
    fn default() -> Self {
        Parser {
            state: State::Text,
            subnegotiation_len: 0,
        }
    }
}

impl Parser {
    /// Feeds bytes; events go to `emit` in order.
    pub fn feed(&mut self, bytes: &[u8], mut emit: impl FnMut(Event)) {
        for &byte in bytes {
            self.step(byte, &mut emit);
        }
    }

    fn step(&mut self, byte: u8, emit: &mut impl FnMut(Event)) {
        match self.state {
            State::Text => match byte {
                IAC => self.state = State::Command,
                b'\r' => self.state = State::CarriageReturn,
                b'\n' => emit(Event::EndOfLine),
                0x08 | 0x7f => emit(Event::EraseChar),
                0 => {}
                _ => emit(Event::Data(byte)),
            },
            State::CarriageReturn => {
                self.state = State::Text;
                emit(Event::EndOfLine);
                // CR LF and CR NUL are one line end; after a bare CR the
                // byte belongs to the next line.
                if byte != b'\n' && byte != 0 {
                    self.step(byte, emit);
                }
            }
            State::Command => {
                self.state = State::Text;
                match byte {
                    IAC => emit(Event::Data(IAC)),
                    WILL | WONT | DO | DONT => self.state = State::Option(byte),
                    SB => {
                        self.state = State::Subnegotiation;
                        self.subnegotiation_len = 0;
                    }
                    EC => emit(Event::EraseChar),
                    EL | IP | AO => emit(Event::EraseLine),
                    // NOP, DM, BRK, AYT, GA, or an SE out of place: nothing to do.
                    _ => {}
                }
            }
            State::Option(verb) => {
                self.state = State::Text;
                emit(Event::Negotiate { verb, option: byte });
            }
            State::Subnegotiation => {
                if byte == IAC {
                    self.state = State::SubnegotiationIac;
                } else {
                    self.count_subnegotiation_byte();
                }
            }
            State::SubnegotiationIac => match byte {
                SE => self.state = State::Text,
                // IAC IAC inside: a data byte of the subnegotiation.
                IAC => {
                    self.state = State::Subnegotiation;
                    self.count_subnegotiation_byte();
                }
                // Anything else is a malformed end; leave the subnegotiation.
                _ => self.state = State::Text,
            },
        }
    }

    fn count_subnegotiation_byte(&mut self) {
        self.subnegotiation_len += 1;
        if self.subnegotiation_len > MAX_SUBNEGOTIATION {
            // A subnegotiation that never ends: give up on it rather than hold it.
            self.state = State::Text;
        }
    }
}

/// `text` with every 255 byte doubled, as Telnet data must be sent.
pub fn escape_iac(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for &byte in text {
        out.push(byte);
        if byte == IAC {
            out.push(IAC);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<Event> {
        let mut parser = Parser::default();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, |e| out.push(e));
        }
        out
    }

    fn data(text: &str) -> Vec<Event> {
        text.bytes().map(Event::Data).collect()
    }

    #[test]
    fn text_and_line_ends_in_every_form() {
        // CR LF, CR NUL, a lone LF, and a bare CR followed by text.
        let mut expected = Vec::new();
        for (i, part) in ["ab", "c", "d", "x", "e"].iter().enumerate() {
            if i > 0 {
                expected.push(Event::EndOfLine);
            }
            expected.extend(data(part));
        }
        assert_eq!(events(&[b"ab\r\nc\r\0d\nx\re"]), expected);
    }

    #[test]
    fn iac_iac_is_the_data_byte_255() {
        assert_eq!(
            events(&[&[b'a', IAC, IAC, b'b']]),
            [Event::Data(b'a'), Event::Data(255), Event::Data(b'b')]
        );
    }

    #[test]
    fn negotiations_are_found_wherever_the_reads_split_them() {
        let whole = [b'x', IAC, DO, 3, b'y', IAC, WILL, 24, b'\r', b'\n'];
        let expected = events(&[&whole]);
        assert_eq!(
            expected,
            [
                Event::Data(b'x'),
                Event::Negotiate {
                    verb: DO,
                    option: 3
                },
                Event::Data(b'y'),
                Event::Negotiate {
                    verb: WILL,
                    option: 24
                },
                Event::EndOfLine
            ]
        );
        for split in 1..whole.len() {
            let (a, b) = whole.split_at(split);
            assert_eq!(events(&[a, b]), expected, "split at {split}");
        }
        let bytewise: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(events(&bytewise), expected);
    }

    #[test]
    fn subnegotiations_are_skipped_even_when_split() {
        let bytes = [
            b'a', IAC, SB, 24, 0, b'x', b't', IAC, IAC, b'm', IAC, SE, b'b',
        ];
        let expected = vec![Event::Data(b'a'), Event::Data(b'b')];
        for split in 1..bytes.len() {
            let (a, b) = bytes.split_at(split);
            assert_eq!(events(&[a, b]), expected, "split at {split}");
        }
    }

    #[test]
    fn an_endless_subnegotiation_is_dropped_and_text_resumes() {
        let mut bytes = vec![IAC, SB, 31];
        bytes.extend(std::iter::repeat_n(b'z', MAX_SUBNEGOTIATION + 10));
        bytes.extend(b"ok");
        let out = events(&[&bytes]);
        assert!(
            out.ends_with(&data("ok")),
            "{:?}",
            &out[out.len().saturating_sub(3)..]
        );
    }

    #[test]
    fn editing_keys_and_commands_become_erases() {
        assert_eq!(
            events(&[&[b'a', 0x08, b'b', 0x7f, IAC, EC, IAC, EL, IAC, IP]]),
            [
                Event::Data(b'a'),
                Event::EraseChar,
                Event::Data(b'b'),
                Event::EraseChar,
                Event::EraseChar,
                Event::EraseLine,
                Event::EraseLine
            ]
        );
    }

    #[test]
    fn outgoing_255_is_doubled() {
        assert_eq!(escape_iac(&[1, 255, 2]), [1, 255, 255, 2]);
    }
}
