//! `notebook-gateway report` as a user runs it, checked against the
//! database itself: the figures are exact to the cent.

use std::process::Command;

use crate::fixture::{ADMIN_TOKEN, Fixture, Shared};

testkit::tests!(Shared;
    the_json_report_matches_the_database_to_the_cent,
    the_table_and_csv_reports_carry_every_section,
    a_report_without_the_api_says_where_it_looked,
);

fn report(shared: &Shared, format: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_notebook-gateway"))
        .args(["report", "--format", format])
        .env("GATEWAY_API_URL", &shared.api.url)
        .env("GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .expect("the binary runs")
}

async fn the_json_report_matches_the_database_to_the_cent(shared: Fixture) -> anyhow::Result<()> {
    let output = report(&shared, "json");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let analysis: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let revenue = shared
        .sql_number(
            "SELECT CAST(SUM(oi.quantity * oi.unit_price_cents) AS SIGNED) FROM order_items oi \
             JOIN orders o ON o.id = oi.order_id WHERE o.status <> 'cancelled'",
        )
        .await?;
    let orders = shared
        .sql_number("SELECT COUNT(*) FROM orders WHERE status <> 'cancelled'")
        .await?;
    let inventory = shared
        .sql_number("SELECT CAST(SUM(stock * price_cents) AS SIGNED) FROM products WHERE deleted_at IS NULL")
        .await?;
    assert_eq!(analysis["summary"]["revenue_cents"], revenue);
    assert_eq!(analysis["summary"]["orders"], orders);
    assert_eq!(analysis["summary"]["inventory_value_cents"], inventory);
    let by_category: i64 = analysis["revenue_by_category"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["revenue_cents"].as_i64().unwrap())
        .sum();
    assert_eq!(by_category, revenue, "the categories add up to the total");
    Ok(())
}

async fn the_table_and_csv_reports_carry_every_section(shared: Fixture) -> anyhow::Result<()> {
    let table = String::from_utf8(report(&shared, "table").stdout)?;
    for section in [
        "Revenue by category",
        "Top sellers",
        "Revenue by product",
        "Orders per day",
        "Low stock",
        "Inventory value by category",
    ] {
        assert!(table.contains(section), "{section} missing:\n{table}");
    }
    let csv = String::from_utf8(report(&shared, "csv").stdout)?;
    assert!(csv.starts_with("section,item,metric,value\n"));
    for section in [
        "summary",
        "revenue_by_category",
        "revenue_by_product",
        "top_sellers",
        "orders_per_day",
        "inventory",
    ] {
        assert!(
            csv.lines().any(|l| l.starts_with(&format!("{section},"))),
            "{section} missing"
        );
    }
    assert!(
        csv.lines()
            .all(|l| l.split(',').count() == 4 || l.contains('"')),
        "four columns per row"
    );
    Ok(())
}

async fn a_report_without_the_api_says_where_it_looked(_: Fixture) -> anyhow::Result<()> {
    let port = stackctl::testbed::free_port()?;
    let output = Command::new(env!("CARGO_BIN_EXE_notebook-gateway"))
        .args(["report"])
        .env("GATEWAY_API_URL", format!("http://127.0.0.1:{port}"))
        .env("GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot reach the API at http://127.0.0.1:{port}")),
        "{stderr}"
    );
    Ok(())
}
