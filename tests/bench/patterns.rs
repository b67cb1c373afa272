//! The event-pattern matcher's throughput: 1,000 compiled rules of mixed
//! operators, each event matched against all of them.

use minicloud_controlplane::events::pattern::Pattern;
use serde_json::json;
use std::time::Instant;

/// Rule `i` of 1,000: exact, prefix, numeric, anything-but, wildcard and
/// `$or` patterns on the fields of storage events.
fn rule(i: usize) -> Pattern {
    let v = match i % 6 {
        0 => json!({"source": ["minicloud.storage"], "detail": {"bucket": {"name": [format!("b{i}")]}}}),
        1 => json!({"detail": {"object": {"key": [{"prefix": format!("p{i}/")}]}}}),
        2 => json!({"detail": {"object": {"size": [{"numeric": [">", i, "<=", i * 10]}]}}}),
        3 => {
            json!({"detail-type": [{"anything-but": ["Object Deleted", format!("t{i}")]}], "detail": {"bucket": {"name": [format!("b{i}")]}}})
        }
        4 => json!({"detail": {"object": {"key": [{"wildcard": format!("*/{i}/*.png")}]}}}),
        _ => {
            json!({"$or": [{"source": [format!("s{i}")]}, {"detail": {"bucket": {"name": [format!("b{i}")]}}}]})
        }
    };
    Pattern::from_value(&v).unwrap()
}

/// Prints matches per second against 1,000 rules.
pub fn throughput() {
    let rules: Vec<Pattern> = (0..1000).map(rule).collect();
    let events: Vec<serde_json::Value> = (0..100)
        .map(|i| {
            json!({"version": "0", "id": format!("e{i}"), "source": "minicloud.storage",
                   "detail-type": "Object Created", "time": "2026-11-24T10:00:00Z",
                   "detail": {"bucket": {"name": format!("b{}", i * 7)},
                              "object": {"key": format!("p{}/x/{}/a.png", i * 5, i), "size": i * 100}}})
        })
        .collect();
    let mut matched = 0usize;
    let rounds = 20;
    let start = Instant::now();
    for _ in 0..rounds {
        for e in &events {
            matched += rules.iter().filter(|r| r.matches(e)).count();
        }
    }
    let took = start.elapsed();
    let n = (rounds * events.len()) as f64;
    println!("event patterns, 1,000 compiled rules (exact, prefix, numeric, anything-but, wildcard, $or):");
    println!(
        "  {:.0} events/s matched against all rules ({:.1} µs per event, {:.0} ns per rule; {} matches)\n",
        n / took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / n,
        took.as_secs_f64() * 1e9 / n / 1000.0,
        matched / rounds
    );
}
