//! Probing another org for the names of its people: every answer to a
//! caller who may not see them is the same whether the user or key exists
//! or not (and whether the user holds Administrator).

use super::tenant;
use minicloud_tests::{Db, Server};
use reqwest::Method;
use serde_json::json;

crate::on_both_databases!(names_of_another_orgs_people_do_not_leak);

async fn names_of_another_orgs_people_do_not_leak(db: Db) {
    let s = Server::start(db).await;
    let evil = tenant(&s, "evil", "evil").await;
    let key = s.user_token("ada", "Developer", None).await;
    let key_id = key
        .trim_start_matches("mck_")
        .split('_')
        .next()
        .unwrap()
        .to_owned();

    let answer = |body: serde_json::Value| {
        let (s, evil) = (&s, &evil);
        async move { s.call(evil, Method::POST, "/policies/simulate", Some(body)).await }
    };
    let sim = |who: serde_json::Value| {
        json!({"principal": who, "action": "functions:InvokeFunction",
               "resource": "mrn:functions:default:default:function/f"})
    };
    let mut seen = Vec::new();
    for who in [
        json!({"org": "default", "user": "admin"}),
        json!({"org": "default", "user": "ada"}),
        json!({"org": "default", "user": "nobody-here"}),
        json!({"org": "default", "key": key_id}),
        json!({"org": "default", "key": "no-such-key"}),
    ] {
        let (status, body) = answer(sim(who.clone())).await;
        seen.push((who, status, body["error"]["code"].clone()));
    }
    for (who, status, code) in &seen {
        assert_eq!(
            (*status, code.as_str()),
            (403, Some("access_denied")),
            "simulating {who} from another org: {seen:?}"
        );
    }

    // Tagging: the same refusal for the administrator, a user and no one.
    for name in ["admin", "ada", "nobody-here"] {
        let (status, body) = s
            .call(
                &evil,
                Method::PATCH,
                &format!("/orgs/default/users/{name}"),
                Some(json!({"tags": {"team": "x"}})),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("access_denied")),
            "tagging {name}: {body}"
        );
    }
}
