//! The terminal's commands, case-insensitive: what a line means and the
//! lines it answers with. Data comes from the API; NETINFO shows what this
//! process sees of the network, which on the host network is the host's.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use servicekit::money::dollars as money;

use crate::api::{Api, ApiError, Order, Product, ProductPage};

/// Products per `PRODUCTS` page.
const PAGE: u32 = 10;

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Products(u32),
    Product(String),
    Stock(String),
    Order(u64),
    NetInfo,
    Ping,
    Quit,
    /// An empty line: nothing to do.
    Empty,
    /// A known command with wrong arguments: the usage to show.
    Usage(&'static str),
    Unknown(String),
}

/// What a command answers: lines of text, and whether to hang up after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub lines: Vec<String>,
    pub close: bool,
}

impl Reply {
    fn lines(lines: Vec<String>) -> Reply {
        Reply {
            lines,
            close: false,
        }
    }

    fn line(line: impl Into<String>) -> Reply {
        Reply::lines(vec![line.into()])
    }
}

pub const HELP: &[&str] = &[
    "Commands (any case):",
    "  HELP               this list",
    "  PRODUCTS [page]    the catalog, ten products a page",
    "  PRODUCT <id|sku>   one product",
    "  STOCK <sku>        how many are in stock",
    "  ORDER <id>         one order and its lines",
    "  NETINFO            what this terminal sees of the network",
    "  PING               is the terminal alive?",
    "  QUIT               hang up",
];

/// Parses a line of input.
pub fn parse(line: &str) -> Command {
    let mut words = line.split_whitespace();
    let Some(name) = words.next() else {
        return Command::Empty;
    };
    let args: Vec<&str> = words.collect();
    match (name.to_ascii_uppercase().as_str(), args.as_slice()) {
        ("HELP" | "?", []) => Command::Help,
        ("PRODUCTS", []) => Command::Products(1),
        ("PRODUCTS", [page]) => match page.parse::<u32>() {
            Ok(n) if (1..=100_000).contains(&n) => Command::Products(n),
            _ => Command::Usage("PRODUCTS [page], where page is a number from 1"),
        },
        ("PRODUCTS", _) => Command::Usage("PRODUCTS [page]"),
        ("PRODUCT", [key]) => Command::Product((*key).to_owned()),
        ("PRODUCT", _) => Command::Usage("PRODUCT <id|sku>, e.g. PRODUCT 7 or PRODUCT AUD-001"),
        ("STOCK", [sku]) => Command::Stock((*sku).to_owned()),
        ("STOCK", _) => Command::Usage("STOCK <sku>, e.g. STOCK AUD-001"),
        ("ORDER", [id]) => match id.parse::<u64>() {
            Ok(n) if n > 0 => Command::Order(n),
            _ => Command::Usage("ORDER <id>, where id is a number"),
        },
        ("ORDER", _) => Command::Usage("ORDER <id>"),
        ("NETINFO", []) => Command::NetInfo,
        ("PING", []) => Command::Ping,
        ("QUIT" | "EXIT" | "BYE", []) => Command::Quit,
        ("NETINFO" | "PING" | "QUIT" | "EXIT" | "BYE" | "HELP", _) => {
            Command::Usage("that command takes no arguments")
        }
        _ => Command::Unknown(printable(name, 32)),
    }
}

/// Printable ASCII only, at most `max` characters: safe to echo back.
fn printable(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect()
}

/// What `NETINFO` probes: names and ports of the stack on localhost.
#[derive(Debug, Clone)]
pub struct Context {
    pub api: Api,
    pub probes: Vec<(String, u16)>,
}

/// Runs a command.
pub async fn execute(command: Command, context: &Context) -> Reply {
    let api = &context.api;
    let answer = match command {
        Command::Empty => return Reply::lines(Vec::new()),
        Command::Help => return Reply::lines(HELP.iter().map(|s| s.to_string()).collect()),
        Command::Ping => return Reply::line("PONG"),
        Command::Quit => {
            return Reply {
                lines: vec!["Goodbye.".into()],
                close: true,
            };
        }
        Command::Usage(usage) => return Reply::line(format!("usage: {usage}")),
        Command::Unknown(name) => {
            return Reply::line(format!("unknown command `{name}`; type HELP for the list"));
        }
        Command::NetInfo => return Reply::lines(netinfo(&context.probes).await),
        Command::Products(page) => products(api, page).await,
        Command::Product(key) => product(api, &key).await.map(|p| vec![describe(&p)]),
        Command::Stock(sku) => product(api, &sku).await.map(|p| {
            vec![format!(
                "{} {}: {} in stock",
                text(&p.sku),
                text(&p.name),
                p.stock
            )]
        }),
        Command::Order(id) => order(api, id).await,
    };
    match answer {
        Ok(lines) => Reply::lines(lines),
        Err(err) => Reply::line(err.to_string()),
    }
}

async fn products(api: &Api, page: u32) -> Result<Vec<String>, ApiError> {
    let offset = u64::from(page - 1) * u64::from(PAGE);
    let body: ProductPage = api
        .get(
            &format!("/api/products?limit={PAGE}&offset={offset}"),
            || "no such page".into(),
        )
        .await?;
    if body.items.is_empty() {
        return Ok(vec![format!(
            "page {page} is empty; the catalog ends before it"
        )]);
    }
    let mut lines: Vec<String> = body.items.iter().map(describe).collect();
    lines.push(match body.next_offset {
        Some(_) => format!("page {page}; type PRODUCTS {} for more", page + 1),
        None => format!("page {page}, the last"),
    });
    Ok(lines)
}

async fn product(api: &Api, key: &str) -> Result<Product, ApiError> {
    let key = printable(key, 32);
    if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) {
        return api
            .get(&format!("/api/products/{key}"), || {
                format!("there is no product {key}")
            })
            .await;
    }
    let sku = key.to_ascii_uppercase();
    if sku.is_empty() || !sku.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(ApiError::NotFound(format!(
            "`{sku}` is not a SKU; SKUs look like AUD-001"
        )));
    }
    api.get(&format!("/api/products/sku/{sku}"), || {
        format!("there is no product with SKU {sku}")
    })
    .await
}

async fn order(api: &Api, id: u64) -> Result<Vec<String>, ApiError> {
    let order: Order = api
        .get(&format!("/api/orders/{id}"), || {
            format!("there is no order {id}")
        })
        .await?;
    let mut lines = vec![format!(
        "order {} for {}: {}, made {} UTC, total {}",
        order.id,
        text(&order.customer_email),
        order.status.name(),
        text(&order.created_at)
            .chars()
            .take(16)
            .collect::<String>()
            .replace('T', " "),
        money(order.total_cents)
    )];
    for item in &order.items {
        lines.push(format!(
            "  {:>3} x {:<10} {:<28} {:>12}",
            item.quantity,
            text(&item.sku),
            text(&item.name),
            money(item.line_total_cents)
        ));
    }
    Ok(lines)
}

/// One product on one line.
fn describe(p: &Product) -> String {
    format!(
        "{:>4}  {:<10} {:<28} {:<10} {:>12}  stock {}",
        p.id,
        text(&p.sku),
        text(&p.name),
        text(&p.category),
        money(p.price_cents),
        p.stock
    )
}

/// Text from the API made safe for a terminal (no control characters, at
/// most 60 characters).
fn text(value: &str) -> String {
    value.chars().filter(|c| !c.is_control()).take(60).collect()
}

/// What this process sees of the network: host name, uid, interfaces and
/// addresses, and which of the stack's localhost ports it can open.
async fn netinfo(probes: &[(String, u16)]) -> Vec<String> {
    let probes = probes.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        lines.push(format!("host name   {}", hostname.trim()));
        let uid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("Uid:")
                        .map(|v| v.split_whitespace().next().unwrap_or("?").to_owned())
                })
            })
            .unwrap_or_else(|| "?".into());
        lines.push(format!("running as  uid {uid}"));
        lines.push("interfaces this process sees:".into());
        match if_addrs::get_if_addrs() {
            Ok(mut interfaces) => {
                interfaces.sort_by(|a, b| {
                    a.name
                        .cmp(&b.name)
                        .then(a.ip().is_ipv6().cmp(&b.ip().is_ipv6()))
                });
                for interface in interfaces {
                    lines.push(format!(
                        "  {:<12} {}",
                        printable(&interface.name, 15),
                        interface.ip()
                    ));
                }
            }
            Err(err) => lines.push(format!("  (cannot list them: {err})")),
        }
        lines.push("the stack's ports on localhost:".into());
        for (name, port) in &probes {
            let addr = SocketAddr::from(([127, 0, 0, 1], *port));
            let state = match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(_) => "reachable".to_owned(),
                Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                    "refused (nothing listens, or this uid may not connect)".to_owned()
                }
                Err(err) => format!("not reachable ({err})"),
            };
            lines.push(format!("  {name:<10} {addr:<16} {state}"));
        }
        // Said as a comparison, not a claim: the same image on a bridge
        // network prints its own interfaces here (see docs/lab lesson 1).
        lines
            .push("On Docker's host network these are the host's own interfaces and ports;".into());
        lines.push("on a bridge network, the container's own (eth0 and a private address).".into());
        lines
    })
    .await
    .unwrap_or_else(|_| vec!["NETINFO failed".into()])
}

/// Parses `db=3306,api=3000` into the probe list.
pub fn parse_probes(text: &str) -> Result<Vec<(String, u16)>, String> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (name, port) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}` is not NAME=PORT"))?;
            let port = port
                .trim()
                .parse()
                .map_err(|_| format!("`{port}` in `{pair}` is not a port"))?;
            Ok((name.trim().to_owned(), port))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_in_any_case_with_their_arguments() {
        assert_eq!(parse("help"), Command::Help);
        assert_eq!(parse("  Products  "), Command::Products(1));
        assert_eq!(parse("PRODUCTS 3"), Command::Products(3));
        assert_eq!(parse("product aud-001"), Command::Product("aud-001".into()));
        assert_eq!(parse("Stock AUD-001"), Command::Stock("AUD-001".into()));
        assert_eq!(parse("order 42"), Command::Order(42));
        assert_eq!(parse("netinfo"), Command::NetInfo);
        assert_eq!(parse("ping"), Command::Ping);
        assert_eq!(parse("QUIT"), Command::Quit);
        assert_eq!(parse(""), Command::Empty);
    }

    #[test]
    fn bad_arguments_get_the_usage_and_strangers_are_named_safely() {
        assert!(matches!(parse("PRODUCTS zero"), Command::Usage(_)));
        assert!(matches!(parse("PRODUCTS 0"), Command::Usage(_)));
        assert!(matches!(parse("ORDER -1"), Command::Usage(_)));
        assert!(matches!(parse("PRODUCT"), Command::Usage(_)));
        assert!(matches!(parse("PING now"), Command::Usage(_)));
        assert_eq!(
            parse("DROP\u{1b}[2J TABLE"),
            Command::Unknown("DROP[2J".into())
        );
        assert_eq!(parse(&"x".repeat(100)), Command::Unknown("x".repeat(32)));
    }

    #[test]
    fn money_reads_as_dollars() {
        assert_eq!(money(39299), "$392.99");
        assert_eq!(money(123456789), "$1,234,567.89");
    }

    #[test]
    fn negative_money_keeps_its_sign() {
        assert_eq!(money(-500), "-$5.00");
    }

    #[test]
    fn probes_parse_from_name_port_pairs() {
        assert_eq!(
            parse_probes("db=3306, api=3000").unwrap(),
            [("db".to_owned(), 3306), ("api".to_owned(), 3000)]
        );
        assert!(parse_probes("db:3306").is_err());
    }
}
