//! `order-pipeline`: the tasks of the order workflow (`workflow.json`
//! beside this crate) that a NATS subject starts through an event rule.
//!
//! - `validate`: an order has an id, a customer and items of known SKUs in
//!   positive quantities (`Order.Invalid` otherwise);
//! - `check_stock`: every item is in stock (`Order.OutOfStock`);
//! - `check_fraud`: the order's total is under the `max_order_cents`
//!   setting (`Order.Suspicious`);
//! - `price`: one line's price (the Map runs it for every item);
//! - `confirm`: the order's total, recorded in the key-value bucket
//!   `orders` under the order's id (a repeat writes the same value).
//!
//! Prices and stock are the function's `prices` and `stock` settings,
//! JSON objects from SKU to cents and to units.

use minicloud_sdk::{Error, config, kv, log};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

#[derive(Deserialize)]
struct Item {
    sku: String,
    qty: i64,
}

#[derive(Deserialize)]
struct Order {
    id: String,
    customer: String,
    items: Vec<Item>,
}

#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
enum Step {
    Validate { order: Value },
    CheckStock { order: Order },
    CheckFraud { order: Order },
    Price { sku: String, qty: i64, line: u64 },
    Confirm { order: Order, lines: Vec<Line> },
}

#[derive(Deserialize)]
struct Line {
    total_cents: i64,
}

/// A JSON object setting from SKU to a number.
fn table(setting: &str) -> Result<HashMap<String, i64>, Error> {
    let text = config::get(setting).unwrap_or_else(|| "{}".into());
    serde_json::from_str(&text).map_err(|e| Error::named("Order.BadSetting", &format!("{setting}: {e}")))
}

fn unit_price(prices: &HashMap<String, i64>, sku: &str) -> Result<i64, Error> {
    prices
        .get(sku)
        .copied()
        .ok_or_else(|| Error::named("Order.Invalid", &format!("unknown SKU {sku}")))
}

fn total(order: &Order) -> Result<i64, Error> {
    let prices = table("prices")?;
    order
        .items
        .iter()
        .try_fold(0, |sum, i| Ok(sum + unit_price(&prices, &i.sku)? * i.qty))
}

fn step(step: Step) -> Result<Value, Error> {
    match step {
        Step::Validate { order } => {
            let order: Order = serde_json::from_value(order)
                .map_err(|e| Error::named("Order.Invalid", &format!("not an order: {e}")))?;
            if order.id.is_empty() || order.customer.is_empty() || order.items.is_empty() {
                return Err(Error::named(
                    "Order.Invalid",
                    "an order needs an id, a customer and items",
                ));
            }
            if let Some(bad) = order.items.iter().find(|i| i.qty <= 0) {
                return Err(Error::named(
                    "Order.Invalid",
                    &format!("{} has quantity {}", bad.sku, bad.qty),
                ));
            }
            total(&order)?;
            log::info(&format!("order {} of {} is valid", order.id, order.customer));
            Ok(json!({ "valid": true }))
        }
        Step::CheckStock { order } => {
            let stock = table("stock")?;
            let short: Vec<&str> = order
                .items
                .iter()
                .filter(|i| stock.get(&i.sku).copied().unwrap_or(0) < i.qty)
                .map(|i| i.sku.as_str())
                .collect();
            if !short.is_empty() {
                return Err(Error::named(
                    "Order.OutOfStock",
                    &format!("not enough {}", short.join(", ")),
                ));
            }
            Ok(json!({ "in_stock": true }))
        }
        Step::CheckFraud { order } => {
            let limit = config::get("max_order_cents")
                .and_then(|v| v.parse().ok())
                .unwrap_or(i64::MAX);
            let total = total(&order)?;
            if total > limit {
                return Err(Error::named(
                    "Order.Suspicious",
                    &format!("{} cents is over the {limit} an order may cost", total),
                ));
            }
            Ok(json!({ "score": total * 100 / limit.max(1) }))
        }
        Step::Price { sku, qty, line } => {
            let unit = unit_price(&table("prices")?, &sku)?;
            Ok(json!({ "line": line, "sku": sku, "qty": qty, "unit_cents": unit, "total_cents": unit * qty }))
        }
        Step::Confirm { order, lines } => {
            let total: i64 = lines.iter().map(|l| l.total_cents).sum();
            let confirmed = json!({ "order_id": order.id, "customer": order.customer, "total_cents": total });
            kv::Store::open("orders")?.set_json(&order.id, &confirmed)?;
            log::info(&format!("order {} confirmed: {total} cents", order.id));
            Ok(confirmed)
        }
    }
}

minicloud_sdk::json_handler!(step);
