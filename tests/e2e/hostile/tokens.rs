//! Signing keys: whoever reads the database (a backup, a replica, a
//! leaked dump) must not be able to mint access tokens, so keys are
//! sealed under the master key; keys an earlier version stored in the
//! clear are sealed on the next start.

use minicloud_controlplane::capabilities::secrets::Keyring;
use minicloud_controlplane::iam::tokens::open_key;
use minicloud_tests::{Db, Server};
use reqwest::Method;

crate::on_both_databases!(signing_keys_are_sealed_at_rest);

async fn signing_keys_are_sealed_at_rest(db: Db) {
    use sqlx::Row;
    let mut s = Server::start(db).await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&s.database_url()).await.unwrap();
    // A key as an earlier version wrote it: hex in the clear, the newest.
    let clear = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    sqlx::query("INSERT INTO signing_keys (kid, secret, created_ms) VALUES ('legacy', $1, $2)")
        .bind(clear)
        .bind(i64::MAX / 2)
        .execute(&pool)
        .await
        .unwrap();
    s.restart().await;
    let rows = sqlx::query("SELECT kid, secret FROM signing_keys")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    let keyring = Keyring::load(None, &s.data_dir().join("master-key")).unwrap();
    for row in &rows {
        let (kid, stored): (String, String) = (row.get("kid"), row.get("secret"));
        assert!(
            stored.starts_with("sealed:") && !stored.contains(clear),
            "{kid}: {stored}"
        );
        assert!(
            open_key(&keyring, &kid, &stored).is_some(),
            "{kid} opens with the master key"
        );
    }
    let legacy = rows
        .iter()
        .find(|r| r.get::<String, _>("kid") == "legacy")
        .map(|r| r.get::<String, _>("secret"))
        .unwrap();
    assert_eq!(
        hex(&open_key(&keyring, "legacy", &legacy).unwrap()),
        clear,
        "the sealed key is the same key: tokens it signed keep working"
    );
    // A sealed key is bound to its id: moved to another row, it opens not.
    assert!(open_key(&keyring, "other", &legacy).is_none());

    // Tokens naming made-up keys are refused, and the server keeps serving.
    for i in 0..50 {
        let forged = format!("eyJhbGciOiJIUzI1NiIsImtpZCI6Im5vLXN1Y2gta2V5LXtpfSJ9.e30.{i}");
        let (status, _) = s.call(&forged, Method::GET, "/auth/me", None).await;
        assert_eq!(status, 401);
    }
    let (status, _) = s.call(&s.token, Method::GET, "/auth/me", None).await;
    assert_eq!(status, 200);
    // Unknown key ids reread the keys at most once a second, not per call
    // (50 calls take well under the 10 s this allows).
    let reloads = s.metric("minicloud_signing_key_reloads_total", "").await;
    assert!(
        (1.0..10.0).contains(&reloads),
        "{reloads} reloads for 50 forged tokens"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
