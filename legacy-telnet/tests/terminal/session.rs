//! Sessions as a client sees them: the banner, every command, their errors,
//! line editing and endings, and option negotiation on the wire.

use legacy_telnet::protocol::{DO, DONT, IAC, WILL, WONT};

use crate::fixture::{Fixture, Shared, Terminal, limits};

testkit::tests!(Shared;
    a_client_is_greeted_with_the_banner_and_a_prompt,
    every_command_answers_from_the_api,
    commands_are_case_insensitive_and_errors_say_what_to_do,
    quit_says_goodbye_and_hangs_up,
    backspace_and_del_edit_the_line_and_cr_nul_ends_it,
    options_are_negotiated_on_the_wire_even_when_split_across_writes,
    invalid_utf8_is_an_unknown_command_not_a_crash,
);

async fn a_client_is_greeted_with_the_banner_and_a_prompt(shared: Fixture) -> anyhow::Result<()> {
    let terminal = Terminal::start(&shared.api.url, limits()).await?;
    let mut client = terminal.client().await?;
    let greeting = client.until("shop> ").await?;
    assert!(
        greeting.starts_with("ShopDotCom warehouse terminal. Type HELP for commands.\r\n"),
        "{greeting:?}"
    );
    Ok(())
}

async fn every_command_answers_from_the_api(shared: Fixture) -> anyhow::Result<()> {
    let terminal = Terminal::start(&shared.api.url, limits()).await?;
    let mut c = terminal.client().await?;
    c.until("shop> ").await?;
    let help = c.command("HELP").await?;
    for command in [
        "PRODUCTS", "PRODUCT", "STOCK", "ORDER", "NETINFO", "PING", "QUIT",
    ] {
        assert!(help.contains(command), "HELP lacks {command}: {help}");
    }
    let first = c.command("PRODUCTS").await?;
    assert!(
        first.contains("AUD-001") && first.contains("type PRODUCTS 2 for more"),
        "{first}"
    );
    assert_eq!(
        first.matches("stock ").count(),
        10,
        "ten products a page: {first}"
    );
    let second = c.command("PRODUCTS 2").await?;
    assert!(
        second.contains("COM-013") && !second.contains("AUD-001"),
        "{second}"
    );
    let beyond = c.command("PRODUCTS 999").await?;
    assert!(beyond.contains("page 999 is empty"), "{beyond}");
    let by_id = c.command("PRODUCT 1").await?;
    assert!(
        by_id.contains("AUD-001") && by_id.contains("Studio Headphones"),
        "{by_id}"
    );
    let by_sku = c.command("PRODUCT AUD-001").await?;
    assert!(by_sku.contains("Studio Headphones"), "{by_sku}");
    let stock = c.command("STOCK AUD-001").await?;
    assert!(
        stock.contains("AUD-001 Studio Headphones:") && stock.contains("in stock"),
        "{stock}"
    );
    let order = c.command("ORDER 1").await?;
    assert!(
        order.contains("order 1 for ")
            && order.contains("***@example.com")
            && order.contains(" x "),
        "{order}"
    );
    let netinfo = c.command("NETINFO").await?;
    assert!(
        netinfo.contains("interfaces this process sees") && netinfo.contains("127.0.0.1"),
        "{netinfo}"
    );
    let own = netinfo
        .lines()
        .find(|l| l.trim_start().starts_with("terminal "))
        .unwrap_or_default();
    assert!(
        own.contains(&format!("127.0.0.1:{}", terminal.addr.port())) && own.ends_with("reachable"),
        "{netinfo}"
    );
    assert!(c.command("PING").await?.contains("PONG"));
    Ok(())
}

async fn commands_are_case_insensitive_and_errors_say_what_to_do(
    shared: Fixture,
) -> anyhow::Result<()> {
    let terminal = Terminal::start(&shared.api.url, limits()).await?;
    let mut c = terminal.client().await?;
    c.until("shop> ").await?;
    assert!(c.command("pInG").await?.contains("PONG"));
    assert!(
        c.command("stock aud-001")
            .await?
            .contains("Studio Headphones")
    );
    assert!(
        c.command("PRODUCT 999999")
            .await?
            .contains("there is no product 999999")
    );
    assert!(
        c.command("PRODUCT NOPE-1")
            .await?
            .contains("there is no product with SKU NOPE-1")
    );
    assert!(c.command("STOCK ../../etc").await?.contains("is not a SKU"));
    assert!(
        c.command("ORDER 999999")
            .await?
            .contains("there is no order 999999")
    );
    assert!(
        c.command("ORDER first")
            .await?
            .contains("usage: ORDER <id>")
    );
    assert!(c.command("PRODUCTS -3").await?.contains("usage: PRODUCTS"));
    assert!(
        c.command("FROBNICATE")
            .await?
            .contains("unknown command `FROBNICATE`; type HELP")
    );
    let empty = c.command("").await?;
    assert_eq!(empty.trim(), "shop>", "an empty line just prompts again");
    Ok(())
}

async fn quit_says_goodbye_and_hangs_up(shared: Fixture) -> anyhow::Result<()> {
    let terminal = Terminal::start(&shared.api.url, limits()).await?;
    let mut c = terminal.client().await?;
    c.until("shop> ").await?;
    c.send(b"quit\r\n").await?;
    let rest = c.read_until_closed().await?;
    assert!(rest.contains("Goodbye."), "{rest}");
    Ok(())
}

async fn backspace_and_del_edit_the_line_and_cr_nul_ends_it(shared: Fixture) -> anyhow::Result<()> {
    let terminal = Terminal::start(&shared.api.url, limits()).await?;
    let mut c = terminal.client().await?;
    c.until("shop> ").await?;
    c.send(b"PINX\x08G\r\0").await?;
    assert!(
        c.until("shop> ").await?.contains("PONG"),
        "backspace and CR NUL"
    );
    c.send(b"PINGG\x7f\n").await?;
    assert!(
        c.until("shop> ").await?.contains("PONG"),
        "DEL and a lone LF"
    );
    c.send(&[b'x', b'y', IAC, 248, b'P', b'I', b'N', b'G', b'\r', b'\n'])
        .await?;
    assert!(
        c.until("shop> ").await?.contains("PONG"),
        "IAC EL erases the line"
    );
    Ok(())
}

async fn options_are_negotiated_on_the_wire_even_when_split_across_writes(
    shared: Fixture,
) -> anyhow::Result<()> {
    let terminal = Terminal::start(&shared.api.url, limits()).await?;
    let mut c = terminal.client().await?;
    c.until("shop> ").await?;
    // DO SGA split over three writes, then DO ECHO and WILL TERMINAL-TYPE, and a command.
    c.send(&[IAC]).await?;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    c.send(&[DO]).await?;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    c.send(&[
        3, IAC, DO, 1, IAC, WILL, 24, IAC, 250, 24, 0, b'x', IAC, 240,
    ])
    .await?;
    c.send(b"PING\r\n").await?;
    c.until("PONG").await?;
    let seen = c.seen.clone();
    let has = |bytes: [u8; 3]| seen.windows(3).any(|w| w == bytes);
    assert!(has([IAC, WILL, 3]), "agrees to suppress go-ahead");
    assert!(
        has([IAC, WONT, 1]),
        "refuses to echo: the client edits its line"
    );
    assert!(has([IAC, DONT, 24]), "refuses terminal type");
    // Repeating a request in effect gets no second answer.
    let before = c.seen.len();
    c.send(&[IAC, DO, 3, IAC, WONT, 24]).await?;
    c.send(b"PING\r\n").await?;
    c.until("PONG").await?;
    assert!(!c.seen[before..].contains(&IAC), "no answer to an answer");
    Ok(())
}

async fn invalid_utf8_is_an_unknown_command_not_a_crash(shared: Fixture) -> anyhow::Result<()> {
    let terminal = Terminal::start(&shared.api.url, limits()).await?;
    let mut c = terminal.client().await?;
    c.until("shop> ").await?;
    c.send(&[0xC3, 0x28, 0xFF, 0xFF, 0xA0, 0xA1, b'\r', b'\n'])
        .await?;
    let answer = c.until("shop> ").await?;
    assert!(answer.contains("unknown command"), "{answer}");
    assert!(c.command("PING").await?.contains("PONG"));
    Ok(())
}
