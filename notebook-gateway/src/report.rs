//! `notebook-gateway report`: the analysis on stdout, as the notebook's
//! cells would show it: aligned tables for people, JSON for programs, and a
//! long-format CSV (`section,item,metric,value`) for spreadsheets and pandas.

use std::io::Write;

use crate::analytics::Analysis;
use crate::format::{cover, money, thousands, timestamp};

/// Output formats of `report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// Writes the analysis in `format`.
pub fn write(analysis: &Analysis, format: Format, out: &mut dyn Write) -> std::io::Result<()> {
    match format {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(analysis).unwrap_or_default()
        ),
        Format::Csv => csv(analysis, out),
        Format::Table => table(analysis, out),
    }
}

fn table(a: &Analysis, out: &mut dyn Write) -> std::io::Result<()> {
    let s = &a.summary;
    writeln!(out, "ShopDotCom analysis at {}", timestamp(a.generated_at))?;
    writeln!(out)?;
    writeln!(
        out,
        "orders            {} ({} cancelled, not counted)",
        thousands(s.orders),
        s.cancelled_orders
    )?;
    writeln!(out, "revenue           {}", money(s.revenue_cents))?;
    writeln!(
        out,
        "average order     {}",
        money(s.average_order_value_cents)
    )?;
    writeln!(out, "units sold        {}", thousands(s.units_sold))?;
    writeln!(
        out,
        "inventory value   {} ({} products)",
        money(s.inventory_value_cents),
        s.products
    )?;

    writeln!(out, "\nRevenue by category")?;
    for c in &a.revenue_by_category {
        writeln!(
            out,
            "  {:<16} {:>8} units {:>16}",
            c.category,
            thousands(c.units),
            money(c.revenue_cents)
        )?;
    }
    writeln!(out, "\nTop sellers")?;
    for (i, p) in a.top_sellers.iter().enumerate() {
        writeln!(
            out,
            "  {:>2}. {:<10} {:<28} {:>6} units {:>14}",
            i + 1,
            p.sku,
            p.name,
            p.units,
            money(p.revenue_cents)
        )?;
    }
    writeln!(out, "\nRevenue by product")?;
    for p in &a.revenue_by_product {
        writeln!(
            out,
            "  {:<10} {:<28} {:<12} {:>6} units {:>14}",
            p.sku,
            p.name,
            p.category,
            p.units,
            money(p.revenue_cents)
        )?;
    }
    writeln!(out, "\nOrders per day")?;
    for d in &a.orders_per_day {
        writeln!(
            out,
            "  {} {:>5} {:>14}",
            d.date,
            d.orders,
            money(d.revenue_cents)
        )?;
    }
    writeln!(out, "\nLow stock")?;
    if a.low_stock.is_empty() {
        writeln!(out, "  none")?;
    }
    for l in &a.low_stock {
        writeln!(
            out,
            "  {:<10} {:<28} {:>5} left  {:>6.2}/day  {}",
            l.sku,
            l.name,
            l.stock,
            l.units_per_day,
            cover(l.days_of_cover)
        )?;
    }
    writeln!(out, "\nInventory value by category")?;
    for c in &a.inventory {
        writeln!(
            out,
            "  {:<16} {:>8} units {:>16}",
            c.category,
            thousands(c.units),
            money(c.value_cents)
        )?;
    }
    Ok(())
}

fn csv(a: &Analysis, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "section,item,metric,value")?;
    let mut row = |section: &str, item: &str, metric: &str, value: String| -> std::io::Result<()> {
        writeln!(out, "{section},{},{metric},{value}", quote(item))
    };
    row("summary", "", "orders", a.summary.orders.to_string())?;
    row(
        "summary",
        "",
        "cancelled_orders",
        a.summary.cancelled_orders.to_string(),
    )?;
    row(
        "summary",
        "",
        "revenue_cents",
        a.summary.revenue_cents.to_string(),
    )?;
    row(
        "summary",
        "",
        "average_order_value_cents",
        a.summary.average_order_value_cents.to_string(),
    )?;
    row(
        "summary",
        "",
        "units_sold",
        a.summary.units_sold.to_string(),
    )?;
    row(
        "summary",
        "",
        "inventory_value_cents",
        a.summary.inventory_value_cents.to_string(),
    )?;
    for c in &a.revenue_by_category {
        row(
            "revenue_by_category",
            &c.category,
            "units",
            c.units.to_string(),
        )?;
        row(
            "revenue_by_category",
            &c.category,
            "revenue_cents",
            c.revenue_cents.to_string(),
        )?;
    }
    for p in &a.revenue_by_product {
        row("revenue_by_product", &p.sku, "units", p.units.to_string())?;
        row(
            "revenue_by_product",
            &p.sku,
            "revenue_cents",
            p.revenue_cents.to_string(),
        )?;
    }
    for (i, p) in a.top_sellers.iter().enumerate() {
        row("top_sellers", &p.sku, "rank", (i + 1).to_string())?;
    }
    for d in &a.orders_per_day {
        row("orders_per_day", &d.date, "orders", d.orders.to_string())?;
        row(
            "orders_per_day",
            &d.date,
            "revenue_cents",
            d.revenue_cents.to_string(),
        )?;
    }
    for l in &a.low_stock {
        row("low_stock", &l.sku, "stock", l.stock.to_string())?;
        row(
            "low_stock",
            &l.sku,
            "days_of_cover",
            l.days_of_cover.map_or(String::new(), |d| format!("{d:.2}")),
        )?;
    }
    for c in &a.inventory {
        row(
            "inventory",
            &c.category,
            "value_cents",
            c.value_cents.to_string(),
        )?;
    }
    Ok(())
}

/// Quotes a CSV field when it needs it.
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}
