//! Compiled artifacts are machine code: a copy changed behind the
//! platform's back (in the object store or the local cache) is never
//! loaded; the function is compiled again from its checked original. And
//! a deploy is never faster because another org deployed the same bytes
//! (its time would tell one tenant what another runs).

use super::{deploy_as, tenant};
use minicloud_tests::{Db, Server, guests};
use serde_json::json;

crate::on_both_databases!(
    a_tampered_artifact_is_never_loaded,
    a_lost_cache_copy_comes_back_checked_from_the_object_store,
    a_copy_of_another_size_is_refused,
    a_planted_original_of_another_size_is_refused_unread,
    another_orgs_deploys_tell_nothing,
    another_orgs_churn_keeps_our_spares
);

/// The hello component with a custom section tagged `tag`: new bytes.
fn hello_tagged(tag: u8) -> Vec<u8> {
    let mut bytes = std::fs::read(guests::HELLO).unwrap();
    bytes.extend_from_slice(&[0, 3, 1, b'x', tag]);
    bytes
}

/// A tenant redeploying new bytes in a loop evicts its own spare compiled
/// components before another org's: our earlier version stays in memory,
/// and switching back to it reads no artifact, while the churning org's
/// oldest are gone (switching back to one of them reads its artifact).
async fn another_orgs_churn_keeps_our_spares(db: Db) {
    // 1 MiB of spares: about three hello components (360 KB images).
    let s = Server::start_with(db, &["--spare-components-mib", "1"]).await;
    let hello = s.fn_url("mine", "/");
    for tag in [b'a', b'b'] {
        assert_eq!(s.deploy_bytes("mine", "", hello_tagged(tag)).await.status(), 201);
        assert_eq!(s.get_text(&hello).await, "Hello, world! (from MiniCloud)\n");
    }
    let evil = tenant(&s, "evil", "evil").await;
    let url = format!("{}/api/v1/projects/evil/functions/churn", s.url);
    for tag in b'0'..=b'5' {
        // Trims run at most once a second: the last deploy's sees them all.
        if tag == b'5' {
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        }
        let resp = s
            .as_token(&evil, reqwest::Method::PUT, &url)
            .header("content-type", "application/wasm")
            .body(hello_tagged(tag))
            .send()
            .await
            .unwrap();
        // Its component joins the others once Cranelift's compile behind
        // the deploy has stored it: one after the other, as deployed.
        s.settled(&resp).await;
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    }
    let loads = || s.metric("minicloud_artifact_loads_total", "");
    let before = loads().await;
    assert_eq!(
        s.patch("mine", json!({ "active_version": 1 })).await["active_version"],
        1
    );
    assert_eq!(s.get_text(&hello).await, "Hello, world! (from MiniCloud)\n");
    assert_eq!(loads().await, before, "our spare stayed in memory");
    let (status, body) = s
        .call(
            &evil,
            reqwest::Method::PATCH,
            "/projects/evil/functions/churn",
            Some(json!({ "active_version": 1 })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let churn = s.get_text(&format!("{}/fn/evil/churn/", s.url)).await;
    assert_eq!(churn, "Hello, world! (from MiniCloud)\n");
    assert_eq!(loads().await, before + 1.0, "their oldest was let go");
}

async fn another_orgs_deploys_tell_nothing(db: Db) {
    let s = Server::start(db).await;
    s.deploy("hello", guests::HELLO).await;
    s.deploy("hello-again", guests::HELLO).await;
    let compiled = || s.metric("minicloud_compilations_total", "reason=\"deploy\"");
    assert_eq!(compiled().await, 1.0, "the org's own repeat is not compiled");
    // Another org deploying the very same bytes pays the whole compile,
    // as if nobody had deployed them; its own repeat is then quick.
    let evil = tenant(&s, "evil", "evil").await;
    deploy_as(&s, &evil, "evil", "probe", guests::HELLO).await;
    assert_eq!(compiled().await, 2.0, "compiled again for another org");
    deploy_as(&s, &evil, "evil", "probe2", guests::HELLO).await;
    assert_eq!(compiled().await, 2.0);
}

async fn a_tampered_artifact_is_never_loaded(db: Db) {
    let mut s = Server::start(db).await;
    let deployed = s.deploy("hello", guests::HELLO).await;
    let sha = deployed["sha256"].as_str().unwrap().to_owned();
    let copies: Vec<_> = ["objects/compiled", "cache"]
        .iter()
        .flat_map(|dir| copies(&s, dir, &sha))
        .collect();
    assert_eq!(
        copies.len(),
        2,
        "one copy in the object store, one cached: {copies:?}"
    );
    // Same length, other bytes: what an attacker with write access to the
    // bucket or the cache folder would plant.
    for path in &copies {
        let mut bytes = std::fs::read(path).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0xff;
        std::fs::write(path, bytes).unwrap();
    }
    s.restart().await;
    let text = s.get_text(&s.fn_url("hello", "/?name=Ada")).await;
    assert_eq!(text, "Hello, Ada! (from MiniCloud)\n");
    assert!(
        s.metric("minicloud_artifact_digest_mismatches_total", "cache")
            .await
            >= 1.0,
        "the planted cache copy was noticed"
    );
    assert!(
        s.metric("minicloud_artifact_digest_mismatches_total", "object_store")
            .await
            >= 1.0,
        "and the planted object store copy"
    );
    assert_eq!(
        temporaries(&s),
        Vec::<std::path::PathBuf>::new(),
        "the refused download was not kept"
    );
    // The recompiled artifact is the one recorded now: the next start
    // loads it without compiling.
    s.restart().await;
    let text = s.get_text(&s.fn_url("hello", "/?name=Bo")).await;
    assert_eq!(text, "Hello, Bo! (from MiniCloud)\n");
    assert_eq!(
        s.metric("minicloud_artifact_digest_mismatches_total", "cache")
            .await,
        0.0
    );
}

/// A node whose cache lost an artifact (a new node beside a shared bucket,
/// a cleared disk) takes the object store's copy, streamed and checked,
/// without compiling; a planted partial download never stays behind.
async fn a_lost_cache_copy_comes_back_checked_from_the_object_store(db: Db) {
    let mut s = Server::start(db).await;
    let deployed = s.deploy("hello", guests::HELLO).await;
    let sha = deployed["sha256"].as_str().unwrap().to_owned();
    let stored = copies(&s, "objects/compiled", &sha)
        .pop()
        .expect("the object store's copy");
    let cached = copies(&s, "cache", &sha).pop().expect("the cached copy");
    std::fs::remove_file(&cached).unwrap();
    s.restart().await;
    let text = s.get_text(&s.fn_url("hello", "/?name=Ada")).await;
    assert_eq!(text, "Hello, Ada! (from MiniCloud)\n");
    assert_eq!(
        s.metric("minicloud_compilations_total", "").await,
        0.0,
        "loaded from the object store's copy, not compiled"
    );
    assert_eq!(
        std::fs::read(&cached).expect("cached again"),
        std::fs::read(&stored).unwrap(),
        "the cached copy is the stored one, whole"
    );
    assert_eq!(temporaries(&s), Vec::<std::path::PathBuf>::new());
}

/// Each artifact's size is recorded beside its digest: an artifact
/// recorded before sizes were gets its size from the first copy that
/// matches, and a planted copy of another size (a shared bucket's
/// gigabytes) is refused, the function compiled again. (Its digest would
/// refuse it too, after reading it: that it is not read whole is the unit
/// test `a_copy_past_its_size_is_not_read_whole`'s.)
async fn a_copy_of_another_size_is_refused(db: Db) {
    let mut s = Server::start(db).await;
    let deployed = s.deploy("hello", guests::HELLO).await;
    let sha = deployed["sha256"].as_str().unwrap().to_owned();
    let stored = copies(&s, "objects/compiled", &sha).pop().unwrap();
    let cached = copies(&s, "cache", &sha).pop().unwrap();
    let length = std::fs::metadata(&stored).unwrap().len() as i64;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&s.database_url()).await.unwrap();
    let size = || {
        sqlx::query_scalar::<_, Option<i64>>("SELECT size_bytes FROM compiled_artifacts WHERE sha256 = $1")
            .bind(&sha)
            .fetch_one(&pool)
    };
    assert_eq!(size().await.unwrap(), Some(length), "recorded at compile");
    // As an artifact recorded before sizes were: the object store's copy,
    // checked by its digest, records it.
    sqlx::query("UPDATE compiled_artifacts SET size_bytes = NULL")
        .execute(&pool)
        .await
        .unwrap();
    std::fs::remove_file(&cached).unwrap();
    s.restart().await;
    let text = s.get_text(&s.fn_url("hello", "/?name=Ada")).await;
    assert_eq!(text, "Hello, Ada! (from MiniCloud)\n");
    assert_eq!(s.metric("minicloud_compilations_total", "").await, 0.0);
    assert_eq!(size().await.unwrap(), Some(length), "recorded from the copy");
    // A planted copy a byte longer than recorded, and a sparse one of
    // 4 GiB: both refused unread (a download would stop at the recorded
    // size), the component compiled again from its checked original.
    for planted in [length as u64 + 1, 4 << 30] {
        std::fs::remove_file(&cached).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&stored)
            .unwrap()
            .set_len(planted)
            .unwrap();
        s.restart().await;
        let text = s.get_text(&s.fn_url("hello", "/?name=Bo")).await;
        assert_eq!(text, "Hello, Bo! (from MiniCloud)\n");
        assert_eq!(
            s.metric("minicloud_artifact_digest_mismatches_total", "object_store")
                .await,
            1.0,
            "the planted copy was refused"
        );
        assert_eq!(s.metric("minicloud_compilations_total", "").await, 1.0);
        assert_eq!(temporaries(&s), Vec::<std::path::PathBuf>::new());
        assert_eq!(
            std::fs::metadata(&stored).unwrap().len() as i64,
            length,
            "the recompiled artifact replaced it"
        );
    }
    pool.close().await;
}

/// With no compiled copy left, the function is compiled from its stored
/// original: one of another size than its upload (a sparse 4 GiB file in
/// the bucket) is refused before it is read into memory, with an error,
/// and the server goes on.
async fn a_planted_original_of_another_size_is_refused_unread(db: Db) {
    let mut s = Server::start(db).await;
    let deployed = s.deploy("hello", guests::HELLO).await;
    let sha = deployed["sha256"].as_str().unwrap().to_owned();
    for path in copies(&s, "objects/compiled", &sha)
        .into_iter()
        .chain(copies(&s, "cache", &sha))
    {
        std::fs::remove_file(path).unwrap();
    }
    let original = s
        .data_dir()
        .join("objects/components")
        .join(format!("{sha}.wasm"));
    std::fs::File::options()
        .write(true)
        .open(&original)
        .unwrap()
        .set_len(4 << 30)
        .unwrap();
    s.restart().await;
    let resp = s.http.get(s.fn_url("hello", "/")).send().await.unwrap();
    assert!(resp.status().is_server_error(), "{}", resp.status());
    assert!(
        minicloud_tests::peak_rss(s.pid()) < 1 << 30,
        "not read into memory: {} bytes at the peak",
        minicloud_tests::peak_rss(s.pid())
    );
    assert_eq!(s.metric("minicloud_compilations_total", "").await, 0.0);
    let ready = s.http.get(format!("{}/readyz", s.url)).send().await.unwrap();
    assert_eq!(ready.status(), 200, "the server goes on");
}

/// The compiled artifacts of `sha` under `dir` of the server's data.
fn copies(s: &Server, dir: &str, sha: &str) -> Vec<std::path::PathBuf> {
    let name = format!("{sha}.cwasm");
    walk(&s.data_dir().join(dir))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == name.as_str()))
        .collect()
}

/// Temporary files in the artifact cache (downloads and writes not moved
/// into place).
fn temporaries(s: &Server) -> Vec<std::path::PathBuf> {
    walk(&s.data_dir().join("cache"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
        .collect()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let p = e.path();
            if p.is_dir() { walk(&p) } else { vec![p] }
        })
        .collect()
}
