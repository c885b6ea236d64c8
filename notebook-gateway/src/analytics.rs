//! The analysis a data scientist would run in the notebook, as pure
//! functions of the products and orders: revenue by product and category,
//! top sellers, average order value, orders per day, low stock with days of
//! cover, and inventory value. Money stays in integer cents throughout;
//! cancelled orders count for nothing but their own tally.

use std::collections::BTreeMap;

use serde::Serialize;
use time::{Date, OffsetDateTime};

use crate::model::{Order, Product};

/// Knobs of the analysis.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// A product at or below this stock is low.
    pub low_stock_units: u32,
    /// A product with fewer days of cover than this is low.
    pub low_cover_days: f64,
    /// The days of recent sales the rate of sale is taken over.
    pub sales_window_days: u32,
    /// How many top sellers to list.
    pub top: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            low_stock_units: 10,
            low_cover_days: 14.0,
            sales_window_days: 28,
            top: 10,
        }
    }
}

/// Everything the report and the dashboard show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    pub summary: Summary,
    pub revenue_by_product: Vec<ProductSales>,
    pub revenue_by_category: Vec<CategorySales>,
    pub top_sellers: Vec<ProductSales>,
    pub orders_per_day: Vec<Day>,
    pub low_stock: Vec<LowStock>,
    pub inventory: Vec<CategoryInventory>,
    /// Every product's stock, lowest first (the stock chart).
    pub stock_levels: Vec<StockLevel>,
}

/// The headline figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Orders that count (not cancelled).
    pub orders: u64,
    pub cancelled_orders: u64,
    pub revenue_cents: i64,
    /// Revenue over counted orders, rounded half up to the cent.
    pub average_order_value_cents: i64,
    pub units_sold: u64,
    pub products: u64,
    pub inventory_value_cents: i64,
}

/// Sales of one product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductSales {
    pub product_id: u64,
    pub sku: String,
    pub name: String,
    pub category: String,
    pub units: u64,
    pub revenue_cents: i64,
}

/// Sales of one category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategorySales {
    pub category: String,
    pub units: u64,
    pub revenue_cents: i64,
}

/// One calendar day (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Day {
    pub date: String,
    pub orders: u64,
    pub revenue_cents: i64,
}

/// A product running low.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LowStock {
    pub product_id: u64,
    pub sku: String,
    pub name: String,
    pub stock: u32,
    /// Units sold per day over the sales window.
    pub units_per_day: f64,
    /// Days until it runs out at that rate; `None` when it does not sell.
    pub days_of_cover: Option<f64>,
}

/// What the stock of one category is worth at list price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategoryInventory {
    pub category: String,
    pub units: u64,
    pub value_cents: i64,
}

/// One product's stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockLevel {
    pub sku: String,
    pub name: String,
    pub stock: u32,
}

fn counts(order: &Order) -> bool {
    order.status != "cancelled"
}

/// Runs the whole analysis as of `now`.
pub fn analyse(
    products: &[Product],
    orders: &[Order],
    now: OffsetDateTime,
    settings: Settings,
) -> Analysis {
    let counted: Vec<&Order> = orders.iter().filter(|o| counts(o)).collect();

    let mut by_product: BTreeMap<u64, ProductSales> = BTreeMap::new();
    for item in counted.iter().flat_map(|o| &o.items) {
        let entry = by_product
            .entry(item.product_id)
            .or_insert_with(|| ProductSales {
                product_id: item.product_id,
                sku: item.sku.clone(),
                name: item.name.clone(),
                category: item.category.clone(),
                units: 0,
                revenue_cents: 0,
            });
        entry.units += u64::from(item.quantity);
        entry.revenue_cents += item.line_total_cents;
    }
    let mut revenue_by_product: Vec<ProductSales> = by_product.into_values().collect();
    revenue_by_product.sort_by(|a, b| {
        b.revenue_cents
            .cmp(&a.revenue_cents)
            .then(a.sku.cmp(&b.sku))
    });

    let mut top_sellers = revenue_by_product.clone();
    top_sellers.sort_by(|a, b| {
        b.units
            .cmp(&a.units)
            .then(b.revenue_cents.cmp(&a.revenue_cents))
            .then(a.sku.cmp(&b.sku))
    });
    top_sellers.truncate(settings.top);

    let mut by_category: BTreeMap<&str, CategorySales> = BTreeMap::new();
    for sales in &revenue_by_product {
        let entry = by_category
            .entry(&sales.category)
            .or_insert_with(|| CategorySales {
                category: sales.category.clone(),
                units: 0,
                revenue_cents: 0,
            });
        entry.units += sales.units;
        entry.revenue_cents += sales.revenue_cents;
    }
    let mut revenue_by_category: Vec<CategorySales> = by_category.into_values().collect();
    revenue_by_category.sort_by(|a, b| {
        b.revenue_cents
            .cmp(&a.revenue_cents)
            .then(a.category.cmp(&b.category))
    });

    let revenue_cents: i64 = revenue_by_product.iter().map(|p| p.revenue_cents).sum();
    let units_sold: u64 = revenue_by_product.iter().map(|p| p.units).sum();
    let order_count = counted.len() as i64;
    let average_order_value_cents = if order_count == 0 {
        0
    } else {
        (2 * revenue_cents + order_count) / (2 * order_count)
    };

    let mut inventory: BTreeMap<&str, CategoryInventory> = BTreeMap::new();
    for product in products {
        let entry = inventory
            .entry(&product.category)
            .or_insert_with(|| CategoryInventory {
                category: product.category.clone(),
                units: 0,
                value_cents: 0,
            });
        entry.units += u64::from(product.stock);
        entry.value_cents += i64::from(product.stock) * product.price_cents;
    }
    let mut inventory: Vec<CategoryInventory> = inventory.into_values().collect();
    inventory.sort_by(|a, b| {
        b.value_cents
            .cmp(&a.value_cents)
            .then(a.category.cmp(&b.category))
    });

    let mut stock_levels: Vec<StockLevel> = products
        .iter()
        .map(|p| StockLevel {
            sku: p.sku.clone(),
            name: p.name.clone(),
            stock: p.stock,
        })
        .collect();
    stock_levels.sort_by(|a, b| a.stock.cmp(&b.stock).then(a.sku.cmp(&b.sku)));

    Analysis {
        generated_at: now,
        summary: Summary {
            orders: counted.len() as u64,
            cancelled_orders: (orders.len() - counted.len()) as u64,
            revenue_cents,
            average_order_value_cents,
            units_sold,
            products: products.len() as u64,
            inventory_value_cents: inventory.iter().map(|c| c.value_cents).sum(),
        },
        revenue_by_product,
        revenue_by_category,
        top_sellers,
        orders_per_day: orders_per_day(&counted, now.date()),
        low_stock: low_stock(products, &counted, now, settings),
        inventory,
        stock_levels,
    }
}

/// Every day from the first counted order to `today`, zero days included.
fn orders_per_day(counted: &[&Order], today: Date) -> Vec<Day> {
    let mut days: BTreeMap<Date, (u64, i64)> = BTreeMap::new();
    for order in counted {
        let day = days.entry(order.created_at.date()).or_default();
        day.0 += 1;
        day.1 += order.items.iter().map(|i| i.line_total_cents).sum::<i64>();
    }
    let Some(first) = days.keys().next().copied() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut date = first;
    while date <= today.max(first) {
        let (orders, revenue_cents) = days.get(&date).copied().unwrap_or_default();
        out.push(Day {
            date: date.to_string(),
            orders,
            revenue_cents,
        });
        match date.next_day() {
            Some(next) => date = next,
            None => break,
        }
    }
    out
}

/// Products at or under the stock threshold, or with fewer days of cover
/// than the cover threshold at their recent rate of sale; fewest days first.
fn low_stock(
    products: &[Product],
    counted: &[&Order],
    now: OffsetDateTime,
    settings: Settings,
) -> Vec<LowStock> {
    let window = time::Duration::days(i64::from(settings.sales_window_days));
    let mut recent_units: BTreeMap<u64, u64> = BTreeMap::new();
    for order in counted
        .iter()
        .filter(|o| o.created_at > now - window && o.created_at <= now)
    {
        for item in &order.items {
            *recent_units.entry(item.product_id).or_default() += u64::from(item.quantity);
        }
    }
    let mut low: Vec<LowStock> = products
        .iter()
        .filter_map(|p| {
            let units_per_day = recent_units.get(&p.id).copied().unwrap_or(0) as f64
                / f64::from(settings.sales_window_days.max(1));
            let days_of_cover = (units_per_day > 0.0).then(|| f64::from(p.stock) / units_per_day);
            let is_low = p.stock <= settings.low_stock_units
                || days_of_cover.is_some_and(|d| d < settings.low_cover_days);
            is_low.then(|| LowStock {
                product_id: p.id,
                sku: p.sku.clone(),
                name: p.name.clone(),
                stock: p.stock,
                units_per_day,
                days_of_cover,
            })
        })
        .collect();
    low.sort_by(|a, b| {
        let cover = |l: &LowStock| l.days_of_cover.unwrap_or(f64::INFINITY);
        cover(a)
            .total_cmp(&cover(b))
            .then(a.stock.cmp(&b.stock))
            .then(a.sku.cmp(&b.sku))
    });
    low
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OrderItem;
    use time::macros::datetime;

    fn product(id: u64, category: &str, price_cents: i64, stock: u32) -> Product {
        Product {
            id,
            sku: format!("SKU-{id}"),
            name: format!("Product {id}"),
            category: category.into(),
            price_cents,
            stock,
        }
    }

    fn order(id: u64, status: &str, at: OffsetDateTime, lines: &[(&Product, u32)]) -> Order {
        let items: Vec<OrderItem> = lines
            .iter()
            .map(|(p, quantity)| OrderItem {
                product_id: p.id,
                sku: p.sku.clone(),
                name: p.name.clone(),
                category: p.category.clone(),
                quantity: *quantity,
                unit_price_cents: p.price_cents,
                line_total_cents: p.price_cents * i64::from(*quantity),
            })
            .collect();
        Order {
            id,
            status: status.into(),
            total_cents: items.iter().map(|i| i.line_total_cents).sum(),
            created_at: at,
            items,
        }
    }

    /// Three products, four orders (one cancelled), checked by hand:
    ///
    /// | order | day   | status    | lines                 | total  |
    /// | 1     | 11-01 | paid      | A×2 (1000), B×1 (250) | 2250   |
    /// | 2     | 11-01 | shipped   | C×4 (99)              | 396    |
    /// | 3     | 11-03 | placed    | A×1 (1000), C×1 (99)  | 1099   |
    /// | 4     | 11-03 | cancelled | B×10 (250)            | (2500) |
    ///
    /// A: 3 units, 3000; B: 1 unit, 250; C: 5 units, 495.
    /// audio (A, B): 4 units, 3250; books (C): 5 units, 495. Revenue 3745,
    /// three counted orders, average 3745 / 3 = 1248.33 -> 1248.
    /// Stock A 20, B 3, C 40: inventory 20×1000 + 3×250 = 20750 audio,
    /// 40×99 = 3960 books, 24710 in all.
    fn fixture() -> (Vec<Product>, Vec<Order>, OffsetDateTime) {
        let a = product(1, "audio", 1000, 20);
        let b = product(2, "audio", 250, 3);
        let c = product(3, "books", 99, 40);
        let orders = vec![
            order(
                1,
                "paid",
                datetime!(2026-11-01 09:00 UTC),
                &[(&a, 2), (&b, 1)],
            ),
            order(2, "shipped", datetime!(2026-11-01 17:30 UTC), &[(&c, 4)]),
            order(
                3,
                "placed",
                datetime!(2026-11-03 12:00 UTC),
                &[(&a, 1), (&c, 1)],
            ),
            order(4, "cancelled", datetime!(2026-11-03 13:00 UTC), &[(&b, 10)]),
        ];
        (vec![a, b, c], orders, datetime!(2026-11-04 08:00 UTC))
    }

    fn analysis() -> Analysis {
        let (products, orders, now) = fixture();
        analyse(&products, &orders, now, Settings::default())
    }

    #[test]
    fn the_summary_adds_up_in_cents_without_cancelled_orders() {
        let summary = analysis().summary;
        assert_eq!(summary.orders, 3);
        assert_eq!(summary.cancelled_orders, 1);
        assert_eq!(summary.revenue_cents, 3745);
        assert_eq!(summary.units_sold, 9);
        assert_eq!(summary.average_order_value_cents, 1248);
        assert_eq!(summary.inventory_value_cents, 24710);
        assert_eq!(summary.products, 3);
    }

    #[test]
    fn revenue_is_split_by_product_and_category_largest_first() {
        let a = analysis();
        let by_product: Vec<(&str, u64, i64)> = a
            .revenue_by_product
            .iter()
            .map(|p| (p.sku.as_str(), p.units, p.revenue_cents))
            .collect();
        assert_eq!(
            by_product,
            [("SKU-1", 3, 3000), ("SKU-3", 5, 495), ("SKU-2", 1, 250)]
        );
        let by_category: Vec<(&str, u64, i64)> = a
            .revenue_by_category
            .iter()
            .map(|c| (c.category.as_str(), c.units, c.revenue_cents))
            .collect();
        assert_eq!(by_category, [("audio", 4, 3250), ("books", 5, 495)]);
    }

    #[test]
    fn top_sellers_rank_by_units() {
        let skus: Vec<String> = analysis().top_sellers.into_iter().map(|p| p.sku).collect();
        assert_eq!(skus, ["SKU-3", "SKU-1", "SKU-2"]);
    }

    #[test]
    fn every_day_to_today_is_listed_with_its_orders() {
        let days: Vec<(String, u64, i64)> = analysis()
            .orders_per_day
            .into_iter()
            .map(|d| (d.date, d.orders, d.revenue_cents))
            .collect();
        assert_eq!(
            days,
            [
                ("2026-11-01".to_owned(), 2, 2646),
                ("2026-11-02".to_owned(), 0, 0),
                ("2026-11-03".to_owned(), 1, 1099),
                ("2026-11-04".to_owned(), 0, 0),
            ]
        );
    }

    #[test]
    fn low_stock_lists_low_units_and_short_cover_with_days_of_cover() {
        // Over 28 days: B sold 1 (3 in stock: 84 days of cover, but 3 <= 10 units);
        // A sold 3 (20 in stock: 20 / (3/28) = 186.7 days, not low); C sold 5 (40: 224 days).
        let (products, orders, now) = fixture();
        let low = analyse(&products, &orders, now, Settings::default()).low_stock;
        assert_eq!(low.len(), 1);
        assert_eq!(low[0].sku, "SKU-2");
        assert!((low[0].units_per_day - 1.0 / 28.0).abs() < 1e-9);
        assert!((low[0].days_of_cover.unwrap() - 84.0).abs() < 1e-9);
        let tight = Settings {
            low_cover_days: 200.0,
            ..Settings::default()
        };
        let skus: Vec<String> = analyse(&products, &orders, now, tight)
            .low_stock
            .into_iter()
            .map(|l| l.sku)
            .collect();
        assert_eq!(skus, ["SKU-2", "SKU-1"], "fewest days of cover first");
    }

    #[test]
    fn inventory_is_valued_at_list_price_by_category() {
        let inventory: Vec<(String, u64, i64)> = analysis()
            .inventory
            .into_iter()
            .map(|c| (c.category, c.units, c.value_cents))
            .collect();
        assert_eq!(
            inventory,
            [
                ("audio".to_owned(), 23, 20750),
                ("books".to_owned(), 40, 3960)
            ]
        );
    }

    #[test]
    fn no_orders_means_zeros_not_a_division_by_zero() {
        let (products, _, now) = fixture();
        let a = analyse(&products, &[], now, Settings::default());
        assert_eq!(
            (a.summary.revenue_cents, a.summary.average_order_value_cents),
            (0, 0)
        );
        assert!(a.orders_per_day.is_empty() && a.top_sellers.is_empty());
        assert_eq!(a.low_stock.len(), 1, "B is low on units alone");
        assert_eq!(a.low_stock[0].days_of_cover, None);
    }
}
