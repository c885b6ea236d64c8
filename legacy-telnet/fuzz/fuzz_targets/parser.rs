//! Fuzzes the Telnet framing and negotiation with arbitrary client bytes:
//! nothing may panic, the events must not depend on where the stream was
//! cut into reads, and negotiation must never answer more than it was asked.
#![no_main]

use legacy_telnet::negotiation::Negotiator;
use legacy_telnet::protocol::{Event, Parser};
use libfuzzer_sys::fuzz_target;

fn events(chunks: &[&[u8]]) -> Vec<Event> {
    let mut parser = Parser::default();
    let mut out = Vec::new();
    for chunk in chunks {
        parser.feed(chunk, |e| out.push(e));
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let whole = events(&[data]);
    assert!(whole.len() <= data.len(), "more events than bytes");
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let (a, b) = data.split_at(cut);
    assert_eq!(events(&[a, b]), whole, "a cut at {cut} changed the events");

    let mut negotiator = Negotiator::default();
    let mut asked = 0;
    let mut answered = 0;
    for event in &whole {
        if let Event::Negotiate { verb, option } = event {
            asked += 1;
            answered += usize::from(negotiator.receive(*verb, *option).is_some());
        }
    }
    assert!(answered <= asked);
});
