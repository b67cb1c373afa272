//! S3 mode: `--object-store s3://...` against an S3-compatible server
//! (moto's, from PyPI, installed by scripts/test.sh). Components, compiled
//! artifacts and bucket contents all live there; a restart loads from it.

use minicloud_tests::{Db, Server, guests};
use reqwest::Method;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

crate::on_both_databases!(objects_live_in_s3);

/// A moto S3 server on a free port; killed on drop.
struct Moto(Child, u16);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn moto() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start moto_server ({e}): the S3 tests need an S3-compatible server; \
                 scripts/test.sh installs one with `python3 -m pip install 'moto[server]'`"
            )
        });
    let moto = Moto(child, port);
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http.get(format!("http://127.0.0.1:{port}/")).send().await.is_ok() {
            return moto;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("moto_server did not start on port {port}");
}

async fn objects_live_in_s3(db: Db) {
    let moto = moto().await;
    let endpoint = format!("http://127.0.0.1:{}", moto.1);
    // moto checks no signatures: a plain PUT makes the bucket.
    let made = reqwest::Client::new()
        .put(format!("{endpoint}/minicloud"))
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success(), "{}", made.status());
    let url = format!("s3://minicloud?endpoint={endpoint}&region=us-east-1");
    let env = [("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")];
    let mut s = Server::start_with_env(db, &["--object-store", &url], &env).await;

    s.deploy("hello", guests::HELLO).await;
    s.create_bucket("docs").await;
    let resp = s
        .authed(Method::PUT, &s.api("/buckets/docs/objects/a/b.txt"))
        .header("content-type", "text/plain")
        .body("stored in S3")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);

    // The content is in the S3 bucket, not in the data dir.
    let listing = reqwest::Client::new()
        .get(format!("{endpoint}/minicloud?list-type=2"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listing.contains("<Key>components/"), "{listing}");
    assert!(listing.contains("<Key>buckets/"), "{listing}");
    assert!(!s.data_dir().join("objects").exists());

    // After a restart (the compiled-artifact cache emptied), everything
    // comes back from S3.
    assert!(s.stop().await, "the server did not exit cleanly:\n{}", s.log());
    std::fs::remove_dir_all(s.data_dir().join("cache")).unwrap();
    s.restart().await;
    let resp = s.http.get(s.fn_url("hello", "/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = s
        .authed(Method::GET, &s.api("/buckets/docs/objects/a/b.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "stored in S3");
}
