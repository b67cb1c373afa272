//! The quick tier: a deploy of new bytes answers from Winch's compile
//! while Cranelift's runs behind it, stores the artifact and is swapped
//! in. Winch's code keeps the sandbox's limits (in process, where its
//! moments can be held on to); the deploy serves at once, Cranelift's code
//! takes over, a restart loads the artifact; another org's deploy of the
//! same bytes in the meantime is not quicker and gets Cranelift's code
//! too. Other tests' deploys wait for the compile behind
//! (`Server::settled`).

use super::hostile::tenant;
use minicloud_runtime::{
    Caller, InvocationContext, InvocationReport, InvokeError, Limits, ReportSink, Runtime, RuntimeConfig,
};
use minicloud_tests::{Db, Server, guests};
use std::sync::Arc;
use std::time::Duration;

crate::on_both_databases!(
    a_first_deploy_serves_at_once_and_swaps_in_cranelift,
    another_orgs_deploy_in_our_quick_window,
    compiles_behind_deploys_are_bounded
);

#[derive(Debug)]
struct Discard;

impl ReportSink for Discard {
    fn report(&self, _: InvocationReport) {}
}

/// A GET of `path` through `function` in process: the body, or the error.
async fn get(function: &minicloud_runtime::Function, path: &str) -> Result<String, InvokeError> {
    use http_body_util::BodyExt;
    let req = http::Request::get(path)
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let ctx = InvocationContext {
        invocation_id: String::new(),
        trace_id: "".into(),
        sink: Arc::new(Discard),
        caller: Caller::anonymous(),
        delivery: None,
        task: None,
    };
    let resp = function.handle_http(req, ctx, ()).await?;
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Winch's code runs under the same limits as Cranelift's: a spinning
/// guest is stopped at its time limit, one that allocates at its memory
/// limit, a runaway recursion at the stack's end, a panic is a trap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn winchs_code_keeps_the_sandbox_limits() {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let faults = std::fs::read(guests::FAULTS).unwrap();
    let (component, world) = runtime
        .compile_quick(&faults)
        .unwrap()
        .expect("Winch compiles the faults guest here (x86_64)");
    assert!(runtime.is_quick(&component));
    let limits = Limits {
        memory_bytes: 32 << 20,
        timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let function = runtime.function(&component, world, limits, Vec::new()).unwrap();
    assert!(function.is_quick());
    assert_eq!(get(&function, "/ok").await.unwrap(), "ok");
    assert!(
        matches!(get(&function, "/loop").await, Err(InvokeError::Timeout(_))),
        "a spinning guest is stopped at its time limit"
    );
    assert!(
        matches!(get(&function, "/alloc").await, Err(InvokeError::MemoryLimit(_))),
        "allocation stops at the memory limit"
    );
    assert!(
        matches!(get(&function, "/stack").await, Err(InvokeError::StackOverflow)),
        "a runaway recursion overflows the stack"
    );
    assert!(matches!(
        get(&function, "/panic").await,
        Err(InvokeError::Trap(_))
    ));
    assert_eq!(get(&function, "/env").await.unwrap(), "", "no environment");
    // It answers after its faults: each request has a fresh instance.
    assert_eq!(get(&function, "/ok").await.unwrap(), "ok");

    // What Winch does not take goes to Cranelift at once: a WASI 0.3
    // component (it needs the async ABI); bytes that are no component
    // get the same error as from Cranelift's compile.
    let p3 = std::fs::read(guests::HELLO_P3).unwrap();
    assert!(runtime.compile_quick(&p3).unwrap().is_none());
    assert_eq!(
        runtime.compile_quick(b"hello").unwrap_err().to_string(),
        runtime.compile(b"hello").unwrap_err().to_string()
    );
    // Turned off, nothing is compiled quickly.
    let off = Runtime::new(RuntimeConfig {
        quick_tier: false,
        ..RuntimeConfig::default()
    })
    .unwrap();
    assert!(off.compile_quick(&faults).unwrap().is_none());
}

/// A deploy that does not wait for the compile behind it (unlike
/// `Server::deploy`): the answer, a 201.
async fn deploy_now(s: &Server, token: &str, project: &str, name: &str, bytes: Vec<u8>) -> reqwest::Response {
    let resp = s.deploy_unsettled(token, project, name, bytes).await;
    assert_eq!(resp.status(), 201);
    resp
}

async fn a_first_deploy_serves_at_once_and_swaps_in_cranelift(db: Db) {
    let mut s = Server::start(db).await;
    let hello = std::fs::read(guests::HELLO).unwrap();
    let resp = deploy_now(&s, &s.token, "default", "hello", hello.clone()).await;
    // It answers at once, whichever code serves the call.
    let url = s.fn_url("hello", "/?name=Ada");
    assert_eq!(s.get_text(&url).await, "Hello, Ada! (from MiniCloud)\n");
    assert_eq!(s.metric("minicloud_quick_compilations_total", "").await, 1.0);
    s.settled(&resp).await;
    assert_eq!(
        s.metric("minicloud_compilations_total", "reason=\"deploy\"")
            .await,
        1.0,
        "Cranelift compiled behind the deploy"
    );
    assert_eq!(s.metric("minicloud_quick_swaps_total", "").await, 1.0);
    let cached: usize = s.artifacts_per_engine().iter().sum();
    assert_eq!(cached, 1, "Cranelift's artifact is stored, Winch's never");
    // Cranelift's code serves from now on: no call counts as Winch's.
    let quick = s.metric("minicloud_quick_invocations_total", "").await;
    for _ in 0..5 {
        assert_eq!(s.get_text(&url).await, "Hello, Ada! (from MiniCloud)\n");
    }
    assert_eq!(s.metric("minicloud_quick_invocations_total", "").await, quick);
    // The same bytes again: checked, compiled by neither.
    s.deploy("twin", guests::HELLO).await;
    assert_eq!(s.metric("minicloud_quick_compilations_total", "").await, 1.0);
    assert_eq!(s.metric("minicloud_compilations_total", "").await, 1.0);
    // A restart loads the artifact: nothing compiles.
    s.restart().await;
    let url = s.fn_url("hello", "/?name=Ada");
    assert_eq!(s.get_text(&url).await, "Hello, Ada! (from MiniCloud)\n");
    assert_eq!(s.metric("minicloud_compilations_total", "").await, 0.0);
    assert_eq!(s.metric("minicloud_quick_compilations_total", "").await, 0.0);

    // Turned off, a deploy waits for Cranelift's compile.
    let off = Server::start_with(db, &["--quick-compile=false"]).await;
    deploy_now(&off, &off.token, "default", "hello", hello).await;
    assert_eq!(
        off.metric("minicloud_compilations_total", "reason=\"deploy\"")
            .await,
        1.0
    );
    assert_eq!(off.metric("minicloud_quick_compilations_total", "").await, 0.0);
}

/// Another org deploys the same bytes while ours are in their quick
/// window: it compiles them itself (its deploy is no quicker for ours),
/// each org runs its own Winch code and swaps in its own compile (which
/// code one runs, and when its functions load again, never depends on the
/// other's deploys), both serve, and both end on Cranelift's code.
async fn another_orgs_deploy_in_our_quick_window(db: Db) {
    let s = Server::start(db).await;
    let evil = tenant(&s, "evil", "evil").await;
    let hello = std::fs::read(guests::HELLO).unwrap();
    let (ours, theirs) = tokio::join!(
        deploy_now(&s, &s.token, "default", "hello", hello.clone()),
        deploy_now(&s, &evil, "evil", "probe", hello),
    );
    let their_url = format!("{}/fn/evil/probe/?name=Eve", s.url);
    let our_url = s.fn_url("hello", "/?name=Ada");
    let (a, b) = tokio::join!(s.get_text(&our_url), s.get_text(&their_url));
    assert_eq!(a, "Hello, Ada! (from MiniCloud)\n");
    assert_eq!(b, "Hello, Eve! (from MiniCloud)\n");
    assert_eq!(
        s.metric("minicloud_quick_compilations_total", "").await,
        2.0,
        "each org compiled the bytes itself"
    );
    s.settled(&ours).await;
    s.settled(&theirs).await;
    assert_eq!(
        s.metric("minicloud_quick_swaps_total", "").await,
        2.0,
        "each org swapped in its own compile"
    );
    assert_eq!(
        s.metric("minicloud_compilations_total", "reason=\"deploy\"")
            .await,
        2.0
    );
    let quick = s.metric("minicloud_quick_invocations_total", "").await;
    for _ in 0..3 {
        assert_eq!(s.get_text(&our_url).await, "Hello, Ada! (from MiniCloud)\n");
        assert_eq!(s.get_text(&their_url).await, "Hello, Eve! (from MiniCloud)\n");
    }
    assert_eq!(
        s.metric("minicloud_quick_invocations_total", "").await,
        quick,
        "both orgs' functions run Cranelift's code"
    );
}

/// A tenant deploying new bytes as fast as it can does not queue compiles
/// behind its deploys without bound: past one a core, its deploys wait for
/// Cranelift's compile, as without the quick tier. Every deploy serves and
/// every component is compiled by Cranelift once.
async fn compiles_behind_deploys_are_bounded(db: Db) {
    let s = Server::start(db).await;
    let hello = std::fs::read(guests::HELLO).unwrap();
    let names: Vec<String> = (0..8).map(|k| format!("f{k}")).collect();
    let deploys = names.iter().zip(b'0'..).map(|(name, tag)| {
        // A custom section of its own: new bytes each.
        let mut bytes = hello.clone();
        bytes.extend_from_slice(&[0, 3, 1, b'x', tag]);
        deploy_now(&s, &s.token, "default", name, bytes)
    });
    let answers = futures::future::join_all(deploys).await;
    let quick = s.metric("minicloud_quick_compilations_total", "").await;
    assert!(
        (1.0..8.0).contains(&quick),
        "{quick} of 8 deploys at once answered from Winch's code: some must wait for Cranelift"
    );
    for answer in &answers {
        s.settled(answer).await;
    }
    assert_eq!(
        s.metric("minicloud_compilations_total", "reason=\"deploy\"")
            .await,
        8.0
    );
    for name in &names {
        assert_eq!(
            s.get_text(&s.fn_url(name, "/")).await,
            "Hello, world! (from MiniCloud)\n"
        );
    }
}
