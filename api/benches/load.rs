//! Load on the real API and the real database, on this machine: requests per
//! second and latency for `GET /healthz`, `GET /api/products/{id}` and
//! `POST /api/orders` at 64 connections over loopback, and the API's
//! resident memory under that load.
//!
//! Run: `cargo bench -p api --bench load` (BENCH_SECONDS sets the measured
//! time per scenario, default 10; the warm-up is 2 s). The database runs in a
//! container from the stack's own image, on the host network; the API is the
//! release binary as a separate process, with its default pool of 16
//! (`BENCH_API_BIN=PATH` runs another build of it under the same client).

#![allow(
    clippy::print_stdout,
    reason = "a benchmark program's result is the table it prints"
)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use loadgen::{Load, Report};
use serde_json::json;

const CONNECTIONS: usize = 64;
const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdef";
/// Products the order scenario spreads over, so orders do not queue on one row lock.
const ORDER_PRODUCTS: usize = 200;

fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(bench(Duration::from_secs(seconds)))
}

async fn bench(duration: Duration) -> anyhow::Result<()> {
    eprintln!("starting the database container (the stack's image) ...");
    let db = stackctl::testbed::Database::start("bench").await?;
    let port = stackctl::testbed::free_port()?;
    // BENCH_API_BIN runs another build of the API (e.g. the one before a
    // change) under the same client, to compare the two in one session.
    let binary =
        std::env::var("BENCH_API_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_api").to_owned());
    eprintln!("API binary: {binary}");
    let mut api = Command::new(&binary)
        .args([
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            &db.api_url(),
        ])
        .env("API_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()?;
    let result = scenarios(port, api.id(), duration).await;
    api.kill()?;
    api.wait()?;
    result
}

async fn scenarios(port: u16, pid: u32, duration: Duration) -> anyhow::Result<()> {
    let base = format!("http://127.0.0.1:{port}");
    let host = format!("127.0.0.1:{port}");
    let target = host.parse()?;
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await?;

    let products = create_order_products(&http, &base).await?;
    let load = |request: loadgen::RequestFactory| Load {
        target,
        connections: CONNECTIONS,
        warmup: Duration::from_secs(2),
        duration,
        request,
    };
    let mut rows: Vec<(&str, Report, (u64, u64))> = Vec::new();

    let h = host.clone();
    let report = loadgen::run(
        load(Arc::new(move |_, _| loadgen::get(&h, "/healthz"))),
        |s| s == 200,
    )
    .await?;
    rows.push((
        "GET /healthz",
        report,
        loadgen::memory_kib(pid).unwrap_or_default(),
    ));

    let h = host.clone();
    let by_id = load(Arc::new(move |connection, n| {
        let id = 1 + (connection as u64 * 7919 + n * 31) % 48;
        loadgen::get(&h, &format!("/api/products/{id}"))
    }));
    let report = loadgen::run(by_id, |s| s == 200).await?;
    rows.push((
        "GET /api/products/{id}",
        report,
        loadgen::memory_kib(pid).unwrap_or_default(),
    ));

    let h = host.clone();
    let run_id = std::process::id();
    let orders = load(Arc::new(move |connection, n| {
        let a = products[(connection * 13 + n as usize * 7) % products.len()];
        let b = products[(connection * 29 + n as usize * 11 + 1) % products.len()];
        let items = if a == b {
            json!([{"product_id": a, "quantity": 1}])
        } else {
            json!([{"product_id": a, "quantity": 1}, {"product_id": b, "quantity": 2}])
        };
        let body =
            json!({"customer_email": format!("bench{connection}@example.com"), "items": items})
                .to_string();
        let key = format!("bench-{run_id}-{connection}-{n}");
        loadgen::post_json(&h, "/api/orders", body, &[("idempotency-key", key)])
    }));
    let report = loadgen::run(orders, |s| s == 201).await?;
    rows.push((
        "POST /api/orders",
        report,
        loadgen::memory_kib(pid).unwrap_or_default(),
    ));

    println!();
    println!(
        "{CONNECTIONS} connections, {}s measured after a 2s warm-up, loopback, 2 cores shared by client, API and database",
        duration.as_secs()
    );
    println!();
    println!("| route | req/s | p50 | p99 | p99.9 | errors | API RSS (peak) |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (route, r, (rss, peak)) in &rows {
        println!(
            "| `{route}` | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {} | {:.1} MiB ({:.1} MiB) |",
            r.rps,
            r.p50_us as f64 / 1000.0,
            r.p99_us as f64 / 1000.0,
            r.p999_us as f64 / 1000.0,
            r.errors,
            *rss as f64 / 1024.0,
            *peak as f64 / 1024.0,
        );
    }
    for (route, r, _) in &rows {
        if r.errors > 0 {
            println!("{route}: statuses {:?}", r.statuses);
        }
    }
    Ok(())
}

async fn wait_ready(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    for _ in 0..300 {
        if let Ok(response) = http.get(format!("{base}/readyz")).send().await
            && response.status() == 200
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("the API did not become ready")
}

/// Products with stock enough for every order the run can place.
async fn create_order_products(http: &reqwest::Client, base: &str) -> anyhow::Result<Vec<u64>> {
    let mut ids = Vec::with_capacity(ORDER_PRODUCTS);
    for n in 0..ORDER_PRODUCTS {
        let body = json!({
            "sku": format!("BENCH-{}-{n}", std::process::id()),
            "name": format!("Bench product {n}"),
            "category": "bench",
            "price_cents": 100 + n as i64,
            "stock": 1_000_000,
        });
        let product: serde_json::Value = http
            .post(format!("{base}/api/products"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        ids.push(
            product["id"]
                .as_u64()
                .ok_or_else(|| anyhow::anyhow!("product not created: {product}"))?,
        );
    }
    Ok(ids)
}
