//! Secrets: sealed at rest, never in lists, descriptions, logs or audit
//! records; revealed only by an authorized, audited action; rotation keeps
//! old versions until they are removed.

use minicloud_tests::{Db, Server};
use reqwest::Method;
use serde_json::json;
use sqlx::Row;

crate::on_both_databases!(secrets_are_sealed_and_audited);

const PLAIN: &str = "correct-horse-battery-staple-7781";
const ROTATED: &str = "second-value-of-the-secret-4412";

async fn secrets_are_sealed_and_audited(db: Db) {
    let s = Server::start(db).await;
    let t = s.token.clone();
    let (status, body) = s
        .call(
            &t,
            Method::POST,
            "/projects/default/secrets",
            Some(json!({"name": "db-password", "description": "for the db", "secret_string": PLAIN})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["version"], 1);
    assert!(!body.to_string().contains(PLAIN));
    let (status, _) = s
        .call(
            &t,
            Method::POST,
            "/projects/default/secrets",
            Some(json!({"name": "db-password", "secret_string": "x"})),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = s
        .call(
            &t,
            Method::POST,
            "/projects/default/secrets",
            Some(json!({"name": "empty", "secret_string": ""})),
        )
        .await;
    assert_eq!(status, 400);

    let list = s.get_json(&s.api("/secrets")).await;
    assert_eq!(list["items"][0]["name"], "db-password");
    let described = s.get_json(&s.api("/secrets/db-password")).await;
    assert_eq!(described["versions"].as_array().unwrap().len(), 1);
    for v in [&list, &described] {
        assert!(!v.to_string().contains(PLAIN), "{v}");
    }

    // Reveal, rotate, reveal old and new, remove the old.
    let reveal = |body: serde_json::Value| {
        s.call(
            &t,
            Method::POST,
            "/projects/default/secrets/db-password/reveal",
            Some(body),
        )
    };
    let (status, body) = reveal(json!({})).await;
    assert_eq!(
        (status, body["secret_string"].as_str(), body["version"].as_i64()),
        (200, Some(PLAIN), Some(1))
    );
    let (status, body) = s
        .call(
            &t,
            Method::PUT,
            "/projects/default/secrets/db-password/value",
            Some(json!({"secret_string": ROTATED})),
        )
        .await;
    assert_eq!((status, body["version"].as_i64()), (200, Some(2)), "{body}");
    assert_eq!(reveal(json!({})).await.1["secret_string"], ROTATED);
    assert_eq!(reveal(json!({"version": 1})).await.1["secret_string"], PLAIN);
    let (status, body) = s
        .call(
            &t,
            Method::DELETE,
            "/projects/default/secrets/db-password/versions/2",
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("current_version"))
    );
    let (status, _) = s
        .call(
            &t,
            Method::DELETE,
            "/projects/default/secrets/db-password/versions/1",
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(reveal(json!({"version": 1})).await.0, 404);

    // A principal without secrets:GetSecretValue (Developer) is refused.
    let dev = s.user_token("dev", "Developer", None).await;
    let (status, _) = s
        .call(&dev, Method::GET, "/projects/default/secrets/db-password", None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = s
        .call(
            &dev,
            Method::POST,
            "/projects/default/secrets/db-password/reveal",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 403);

    // Reveals are audited (allowed and denied), values never recorded.
    let (_, audit) = s
        .call(
            &t,
            Method::GET,
            "/orgs/default/audit?action=secrets:GetSecretValue&limit=100",
            None,
        )
        .await;
    let records = audit["items"].as_array().unwrap();
    assert!(records.iter().any(|r| r["decision"] == "Allow"), "{audit}");
    assert!(records.iter().any(|r| r["decision"] == "Deny"), "{audit}");

    // No plaintext at rest: not in any table's text, nor in the files.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&s.database_url()).await.unwrap();
    for (table, columns) in [
        ("secret_versions", "nonce || ciphertext"),
        ("secrets", "name || description"),
        ("audit_records", "params || resource"),
        ("log_lines", "line"),
    ] {
        let rows = sqlx::query(&format!("SELECT {columns} AS t FROM {table}"))
            .fetch_all(&pool)
            .await
            .unwrap();
        for r in rows {
            let text: String = r.try_get("t").unwrap();
            assert!(
                !text.contains(PLAIN) && !text.contains(ROTATED),
                "plaintext in {table}"
            );
        }
    }
    pool.close().await;
    if db == Db::Sqlite {
        for entry in std::fs::read_dir(s.data_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                for secret in [PLAIN, ROTATED] {
                    assert!(
                        !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                        "plaintext in {}",
                        path.display()
                    );
                }
            }
        }
    }
    let log = s.log();
    assert!(!log.contains(PLAIN) && !log.contains(ROTATED));

    // The master key file was made private.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(s.data_dir().join("master-key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    let (status, _) = s
        .call(&t, Method::DELETE, "/projects/default/secrets/db-password", None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(reveal(json!({})).await.0, 404);
}
