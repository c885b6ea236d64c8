//! The demo data: a catalog of 48 products in six categories and a few
//! hundred orders over the last six weeks, so the analytics have something
//! real to show. Deterministic (a fixed pseudo-random sequence) and written
//! only into an empty database, in one transaction.

use mysql_async::prelude::Queryable as _;
use mysql_async::{Conn, TxOpts};

const CATEGORIES: &[(&str, &[&str], (i64, i64))] = &[
    (
        "audio",
        &[
            "Studio Headphones",
            "Wireless Earbuds",
            "Bookshelf Speakers",
            "Soundbar",
            "USB Microphone",
            "DAC Amplifier",
            "Turntable",
            "Portable Speaker",
        ],
        (2_499, 39_999),
    ),
    (
        "computing",
        &[
            "Mechanical Keyboard",
            "Ergonomic Mouse",
            "27in Monitor",
            "USB-C Dock",
            "Laptop Stand",
            "External SSD 1TB",
            "Webcam 4K",
            "Wi-Fi 6 Router",
        ],
        (1_999, 54_999),
    ),
    (
        "home",
        &[
            "Espresso Machine",
            "Air Purifier",
            "Robot Vacuum",
            "Smart Thermostat",
            "LED Desk Lamp",
            "Electric Kettle",
            "Blender",
            "Humidifier",
        ],
        (1_499, 69_999),
    ),
    (
        "outdoor",
        &[
            "Trail Backpack",
            "Camping Stove",
            "Headlamp",
            "Water Filter",
            "Trekking Poles",
            "Sleeping Bag",
            "Tent 2P",
            "Hammock",
        ],
        (999, 44_999),
    ),
    (
        "books",
        &[
            "Networking Fundamentals",
            "Linux Internals",
            "Rust in Action",
            "Database Design",
            "Distributed Systems",
            "The Art of Testing",
            "Security Engineering",
            "Site Reliability",
        ],
        (1_299, 6_999),
    ),
    (
        "kitchen",
        &[
            "Chef Knife",
            "Cast Iron Pan",
            "Cutting Board",
            "Coffee Grinder",
            "Digital Scale",
            "Dutch Oven",
            "Knife Sharpener",
            "Pour-Over Kettle",
        ],
        (899, 24_999),
    ),
];

const STATUSES: &[&str] = &[
    "placed",
    "paid",
    "paid",
    "shipped",
    "shipped",
    "shipped",
    "cancelled",
];
const ORDERS: usize = 320;
const DAYS: u64 = 42;

/// A fixed pseudo-random sequence (64-bit LCG), so every seed is the same.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below.max(1)
    }
}

/// Seeds the catalog and orders if there are no products and no orders yet.
/// Returns whether it seeded.
pub async fn seed_if_empty(conn: &mut Conn) -> Result<bool, mysql_async::Error> {
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    // Lock the (empty) tables' gap so two API processes cannot both seed.
    let products: Option<u64> = tx
        .query_first("SELECT COUNT(*) FROM products FOR UPDATE")
        .await?;
    let orders: Option<u64> = tx
        .query_first("SELECT COUNT(*) FROM orders FOR UPDATE")
        .await?;
    if products != Some(0) || orders != Some(0) {
        tx.rollback().await?;
        return Ok(false);
    }
    let mut rng = Sequence(0x5eed_5eed);
    let mut catalog = Vec::new();
    for (c, (category, names, (low, high))) in CATEGORIES.iter().enumerate() {
        for (n, name) in names.iter().enumerate() {
            let price = low + (rng.next((high - low) as u64) as i64 / 100) * 100 + 99;
            // A few products run low or out, for the low-stock analysis.
            let stock = match rng.next(10) {
                0 => rng.next(5),
                1 => 0,
                _ => 20 + rng.next(230),
            };
            let sku = format!("{}-{:03}", &category[..3].to_uppercase(), c * 10 + n + 1);
            catalog.push((sku, name.to_string(), category.to_string(), price, stock));
        }
    }
    tx.exec_batch(
        "INSERT INTO products (sku, name, category, price_cents, stock) VALUES (?, ?, ?, ?, ?)",
        catalog
            .iter()
            .map(|(sku, name, category, price, stock)| (sku, name, category, price, stock)),
    )
    .await?;
    let products: Vec<(u64, i64)> = tx
        .query("SELECT id, price_cents FROM products ORDER BY id")
        .await?;

    for n in 0..ORDERS {
        let age_seconds = rng.next(DAYS * 86_400);
        let status = STATUSES[rng.next(STATUSES.len() as u64) as usize];
        let email = format!("customer{}@example.com", 1 + rng.next(120));
        let mut items: Vec<(u64, u32, i64)> = Vec::new();
        for _ in 0..1 + rng.next(4) {
            let (id, price) = products[rng.next(products.len() as u64) as usize];
            if !items.iter().any(|(p, _, _)| *p == id) {
                items.push((id, 1 + rng.next(3) as u32, price));
            }
        }
        let total: i64 = items.iter().map(|(_, q, p)| i64::from(*q) * p).sum();
        tx.exec_drop(
            "INSERT INTO orders (customer_email, status, total_cents, created_at)
             VALUES (?, ?, ?, UTC_TIMESTAMP(6) - INTERVAL ? SECOND)",
            (&email, status, total, age_seconds),
        )
        .await?;
        let order_id = tx.last_insert_id().unwrap_or_default();
        tx.exec_batch(
            "INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) VALUES (?, ?, ?, ?)",
            items.iter().map(|(product, quantity, price)| (order_id, product, quantity, price)),
        )
        .await?;
        if n % 64 == 63 {
            tokio::task::yield_now().await;
        }
    }
    tx.commit().await?;
    Ok(true)
}
