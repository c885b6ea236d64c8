//! Hostile clients: floods of random bytes, a huge line, endless IAC
//! sequences, silent connections, too many connections, a client that asks
//! for more than its share of output. After each, a normal client is served.

use std::time::{Duration, Instant};

use legacy_telnet::Limits;
use legacy_telnet::protocol::{DO, IAC, WILL, WONT};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::fixture::{Client, Fixture, Shared, Terminal, limits, still_serves};

testkit::tests!(Shared;
    ten_megabytes_of_random_bytes_end_only_that_session,
    a_one_megabyte_line_is_refused_and_the_connection_stays_usable,
    thousands_of_iac_sequences_get_bounded_answers,
    a_silent_connection_is_closed_when_idle,
    the_client_over_the_cap_is_told_and_closed,
    output_beyond_the_budget_ends_the_session,
);

/// A fixed pseudo-random sequence (xorshift), so a failure can be replayed.
fn random_bytes(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

async fn ten_megabytes_of_random_bytes_end_only_that_session(
    shared: Fixture,
) -> anyhow::Result<()> {
    let terminal = Terminal::start(&shared.api.url, limits()).await?;
    let bystander = terminal.client().await?;
    let client = terminal.client().await?;
    let (mut reader, mut writer) = client.stream.into_split();
    // Read (and drop) whatever comes back, so the server is never stuck writing to us.
    let drain = tokio::spawn(async move {
        let mut buffer = vec![0u8; 65536];
        let mut total = 0usize;
        while let Ok(n) = reader.read(&mut buffer).await {
            if n == 0 {
                break;
            }
            total += n;
        }
        total
    });
    let flood = random_bytes(10 << 20, 0x5eed);
    for chunk in flood.chunks(64 << 10) {
        if writer.write_all(chunk).await.is_err() {
            break; // the server hung up on us: allowed
        }
    }
    let _ = writer.shutdown().await;
    let answered = tokio::time::timeout(Duration::from_secs(60), drain).await??;
    assert!(
        answered <= limits().max_output_bytes + 4096,
        "output stayed within its budget: {answered}"
    );
    still_serves(&terminal).await?;
    let mut bystander = bystander;
    bystander.until("shop> ").await?;
    assert!(
        bystander.command("PING").await?.contains("PONG"),
        "another session was not disturbed"
    );
    Ok(())
}

async fn a_one_megabyte_line_is_refused_and_the_connection_stays_usable(
    shared: Fixture,
) -> anyhow::Result<()> {
    let terminal = Terminal::start(&shared.api.url, limits()).await?;
    let mut c = terminal.client().await?;
    c.until("shop> ").await?;
    let mut line = vec![b'A'; 1 << 20];
    line.extend_from_slice(b"\r\n");
    c.send(&line).await?;
    let answer = c.until("shop> ").await?;
    assert!(
        answer.contains("line too long: at most 512 bytes"),
        "{answer}"
    );
    assert!(
        c.command("PING").await?.contains("PONG"),
        "the same connection still works"
    );
    still_serves(&terminal).await
}

async fn thousands_of_iac_sequences_get_bounded_answers(shared: Fixture) -> anyhow::Result<()> {
    let terminal = Terminal::start(&shared.api.url, limits()).await?;
    let mut c = terminal.client().await?;
    c.until("shop> ").await?;
    let before = c.seen.len();
    let mut storm = Vec::new();
    for i in 0..5000u32 {
        let option = (i % 200) as u8;
        storm.extend_from_slice(&[
            IAC, DO, option, IAC, WILL, option, IAC, WONT, option, IAC, 241,
        ]);
        storm.extend_from_slice(&[IAC, 250, option, 1, 2, 3, IAC, 240]);
    }
    c.send(&storm).await?;
    c.send(b"PING\r\n").await?;
    c.until("PONG").await?;
    let answers = c.seen[before..].windows(2).filter(|w| w[0] == IAC).count();
    // No amplification and no loop: at most one answer per request (the
    // 10000 DO/WILL requests; the 5000 WONTs change nothing but SGA).
    assert!(
        answers > 0 && answers <= 10_000 + 25,
        "{answers} answers to 15000 requests"
    );
    still_serves(&terminal).await
}

async fn a_silent_connection_is_closed_when_idle(shared: Fixture) -> anyhow::Result<()> {
    let short = Limits {
        idle_timeout: Duration::from_secs(1),
        ..limits()
    };
    let terminal = Terminal::start(&shared.api.url, short).await?;
    let mut silent = terminal.client().await?;
    let started = Instant::now();
    let rest = silent.read_until_closed().await?;
    assert!(rest.contains("Idle too long; goodbye."), "{rest}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "closed long after the idle limit"
    );
    still_serves(&terminal).await
}

async fn the_client_over_the_cap_is_told_and_closed(shared: Fixture) -> anyhow::Result<()> {
    let capped = Limits {
        max_connections: 3,
        ..limits()
    };
    let terminal = Terminal::start(&shared.api.url, capped).await?;
    let mut holders: Vec<Client> = Vec::new();
    for _ in 0..3 {
        let mut c = terminal.client().await?;
        c.until("shop> ").await?;
        holders.push(c);
    }
    let mut fourth = terminal.client().await?;
    let told = fourth.read_until_closed().await?;
    assert!(
        told.contains("The terminal is busy: too many connections."),
        "{told:?}"
    );
    holders.pop();
    // A slot frees up once the server notices the close.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut next = terminal.client().await?;
        let greeting = next.until("\r\n").await?;
        if greeting.contains("warehouse terminal") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no slot came free after a client left"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(holders[0].command("PING").await?.contains("PONG"));
    Ok(())
}

async fn output_beyond_the_budget_ends_the_session(shared: Fixture) -> anyhow::Result<()> {
    let small = Limits {
        max_output_bytes: 8 << 10,
        ..limits()
    };
    let terminal = Terminal::start(&shared.api.url, small).await?;
    let mut c = terminal.client().await?;
    c.until("shop> ").await?;
    c.send(&b"HELP\r\n".repeat(100)).await?;
    let rest = c.read_until_closed().await?;
    assert!(
        rest.contains("output limit of this connection reached"),
        "{}",
        &rest[rest.len().saturating_sub(200)..]
    );
    assert!(c.seen.len() <= (8 << 10) + 1024);
    still_serves(&terminal).await
}
