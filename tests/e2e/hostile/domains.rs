//! Custom domains: a project's routes answer on a domain only once the
//! project proved it controls the name through DNS, and one project at a
//! time holds a domain. The tests' own DNS server plays the domain's zone.

use super::{add_route, deploy_as, tenant};
use minicloud_tests::dns::DnsServer;
use minicloud_tests::{Db, Server, guests};
use reqwest::Method;
use serde_json::{Value, json};

crate::on_both_databases!(custom_domains_are_proven_and_held_by_one_project);

async fn custom_domains_are_proven_and_held_by_one_project(db: Db) {
    let dns = DnsServer::start().await;
    let flag = format!("--dns-server={}", dns.addr);
    let s = Server::start_with(db, &[&flag]).await;
    let evil = tenant(&s, "evil", "evil").await;
    s.deploy("shop", guests::HELLO).await;
    deploy_as(&s, &evil, "evil", "trap", guests::FAULTS).await;
    let everything = |f: &str| json!({"method": "ANY", "path": "/{*rest}", "function": f});
    assert_eq!(
        add_route(&s, &s.token, "default", everything("shop")).await.0,
        201
    );
    assert_eq!(add_route(&s, &evil, "evil", everything("trap")).await.0, 201);
    let port = s.url.rsplit(':').next().unwrap().to_owned();
    let on_domain = |path: &str| {
        s.http
            .get(format!("{}{path}", s.url))
            .header("host", format!("shop.example.com:{port}"))
            .send()
    };
    let claims = |project: &str| format!("/projects/{project}/domains");
    let verify = |project: &str| format!("/projects/{project}/domains/shop.example.com/verify");

    // The victim claims the name (given in any case) and is told what to
    // publish.
    let (status, claim) = s
        .call(
            &s.token,
            Method::POST,
            &claims("default"),
            Some(json!({"name": "Shop.Example.com"})),
        )
        .await;
    assert_eq!(status, 201, "{claim}");
    assert_eq!(claim["name"], "shop.example.com");
    assert_eq!(claim["status"], "pending");
    let record = claim["verification"]["record"].as_str().unwrap().to_owned();
    let value = claim["verification"]["value"].as_str().unwrap().to_owned();
    assert_eq!(record, "_minicloud-challenge.shop.example.com");
    assert!(value.starts_with("minicloud-verification="), "{value}");
    // A pending claim routes nothing.
    assert_eq!(on_domain("/x").await.unwrap().status(), 404);
    let (status, body) = s.call(&s.token, Method::POST, &verify("default"), None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "domain_not_verified");
    assert!(
        body["error"]["message"].as_str().unwrap().contains(&record),
        "{body}"
    );

    // The attacker claims the same name: a claim cannot squat, so it is
    // accepted, with a token of its own.
    let (status, theirs) = s
        .call(
            &evil,
            Method::POST,
            &claims("evil"),
            Some(json!({"name": "shop.example.com"})),
        )
        .await;
    assert_eq!(status, 201, "{theirs}");
    let their_value = theirs["verification"]["value"].as_str().unwrap().to_owned();
    assert_ne!(their_value, value);

    // The zone publishes the victim's token: only the victim's claim holds.
    dns.publish_txt(&record, "v=spf1 -all");
    dns.publish_txt(&record, &value);
    let (status, body) = s.call(&evil, Method::POST, &verify("evil"), None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "domain_not_verified");
    let (status, body) = s.call(&s.token, Method::POST, &verify("default"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "verified");
    let resp = on_domain("/x").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().starts_with("Hello"));

    // Even a zone that carries the attacker's token too (a careless owner,
    // or a name that changed hands) does not move a held domain.
    dns.publish_txt(&record, &their_value);
    let (status, body) = s.call(&evil, Method::POST, &verify("evil"), None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "domain_taken");
    assert!(!body.to_string().contains("default"), "names the holder: {body}");
    assert!(
        on_domain("/x")
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .starts_with("Hello")
    );

    // The victim's claims are not the attacker's to read or remove.
    for (method, path) in [
        (Method::GET, claims("default")),
        (Method::GET, format!("{}/shop.example.com", claims("default"))),
        (Method::POST, verify("default")),
        (Method::DELETE, format!("{}/shop.example.com", claims("default"))),
    ] {
        let (status, body) = s.call(&evil, method.clone(), &path, None).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
    }
    let (_, mine) = s.call(&evil, Method::GET, &claims("evil"), None).await;
    let statuses: Vec<&Value> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["status"])
        .collect();
    assert_eq!(statuses, [&json!("pending")], "{mine}");

    // Domains are the project admin's business: a Developer cannot claim one.
    let dev = s.user_token("dev", "Developer", Some("default")).await;
    let (status, body) = s
        .call(
            &dev,
            Method::POST,
            &claims("default"),
            Some(json!({"name": "dev.example.com"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");

    // Names that are the platform's own, or no domain, are refused.
    for bad in [
        "evil.localhost",
        "x.localhost",
        "127.0.0.1",
        "example",
        "*.example.com",
        "a..b",
    ] {
        let (status, body) = s
            .call(&evil, Method::POST, &claims("evil"), Some(json!({"name": bad})))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_domain");
    }

    // Released (named in any case, as DNS compares names), the domain
    // reaches nobody, until the next project proves it.
    let path = format!("{}/Shop.Example.COM", claims("default"));
    assert_eq!(s.call(&s.token, Method::DELETE, &path, None).await.0, 204);
    assert_eq!(on_domain("/x").await.unwrap().status(), 404);
    let (status, body) = s.call(&evil, Method::POST, &verify("evil"), None).await;
    assert_eq!(status, 200, "{body}");
    let seen = on_domain("/headers").await.unwrap().text().await.unwrap();
    assert!(seen.contains("x-minicloud-param-rest: headers"), "{seen}");
    // The platform's own paths stay the platform's on a custom domain.
    let resp = on_domain("/api/v1/auth/me").await.unwrap();
    assert_eq!(resp.status(), 401);
}
