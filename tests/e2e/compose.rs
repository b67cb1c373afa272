//! docker-compose.yml and the systemd unit agree with the binary: no Docker
//! engine or systemd runs here, so the files are parsed and checked against
//! `minicloud serve --help`.

use serde_yaml::Value;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v:?}"))
}

#[test]
fn compose_services_and_settings_agree() {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    let doc: Value = serde_yaml::from_str(&text).unwrap();
    let services = doc["services"].as_mapping().unwrap();
    for name in ["minicloud", "postgres", "nats", "minio", "prometheus", "grafana"] {
        assert!(
            services.contains_key(name),
            "docker-compose.yml lacks the {name} service"
        );
    }
    let mc = &doc["services"]["minicloud"];
    assert_eq!(s(&mc["build"]), ".");
    assert!(root().join("Dockerfile").exists());

    // Every MINICLOUD_* setting is one the binary reads.
    let help = serve_help();
    let env = mc["environment"].as_mapping().unwrap();
    for (k, _) in env {
        let k = s(k);
        if k.starts_with("MINICLOUD_") {
            assert!(
                help.contains(&format!("env: {k}=")),
                "{k} is not a setting of `minicloud serve`"
            );
        }
    }

    // The database URL names the postgres service with its credentials.
    let pg = &doc["services"]["postgres"]["environment"];
    let url = s(&mc["environment"]["MINICLOUD_DATABASE_URL"]);
    let expected = format!(
        "postgres://{}:{}@postgres:5432/{}",
        s(&pg["POSTGRES_USER"]),
        s(&pg["POSTGRES_PASSWORD"]),
        s(&pg["POSTGRES_DB"])
    );
    assert_eq!(url, expected);

    // Objects go to MinIO, with its credentials, into the bucket minio-init
    // creates.
    let minio = &doc["services"]["minio"]["environment"];
    assert!(
        s(&mc["environment"]["MINICLOUD_OBJECT_STORE"])
            .starts_with("s3://minicloud?endpoint=http://minio:9000")
    );
    assert_eq!(
        s(&mc["environment"]["AWS_ACCESS_KEY_ID"]),
        s(&minio["MINIO_ROOT_USER"])
    );
    assert_eq!(
        s(&mc["environment"]["AWS_SECRET_ACCESS_KEY"]),
        s(&minio["MINIO_ROOT_PASSWORD"])
    );
    let init = s(&doc["services"]["minio-init"]["command"][0]);
    assert!(init.contains("mc mb --ignore-existing local/minicloud"), "{init}");

    // The published port is the one it listens on; Prometheus scrapes the
    // private metrics address.
    let listen = s(&mc["environment"]["MINICLOUD_LISTEN"]);
    let port = listen.rsplit(':').next().unwrap();
    let ports: Vec<&str> = mc["ports"].as_sequence().unwrap().iter().map(s).collect();
    assert!(ports.contains(&format!("{port}:{port}").as_str()), "{ports:?}");
    let prom: Value = serde_yaml::from_str(
        &std::fs::read_to_string(root().join("deploy/prometheus/prometheus.yml")).unwrap(),
    )
    .unwrap();
    let target = s(&prom["scrape_configs"][0]["static_configs"][0]["targets"][0]);
    let metrics = s(&mc["environment"]["MINICLOUD_METRICS_LISTEN"]);
    let metrics_port = metrics.rsplit(':').next().unwrap();
    assert_eq!(target, format!("minicloud:{metrics_port}"));
    assert_eq!(s(&prom["scrape_configs"][0]["metrics_path"]), "/metrics");

    // NATS runs with JetStream; Grafana's dashboard parses.
    let nats: Vec<&str> = doc["services"]["nats"]["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(s)
        .collect();
    assert!(nats.contains(&"-js"));
    assert_eq!(
        s(&mc["environment"]["MINICLOUD_NATS_URL"]),
        "nats://nats:4222",
        "MiniCloud takes events from the nats service"
    );
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/grafana/dashboards/minicloud.json")).unwrap(),
    )
    .unwrap();
    assert!(dashboard["panels"].as_array().unwrap().len() >= 3);
}

/// The systemd unit in `deploy/systemd` agrees with the binary: it waits
/// for the server's readiness message, reloads by hand-over, and passes
/// only flags `minicloud serve` has, with its data in the unit's state
/// directory.
#[test]
fn systemd_unit_agrees() {
    let text = std::fs::read_to_string(root().join("deploy/systemd/minicloud.service")).unwrap();
    let settings: Vec<(&str, &str)> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .collect();
    let get = |key: &str| {
        settings
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("the unit has no {key}="))
    };
    assert_eq!(get("Type"), "notify");
    assert_eq!(get("ExecReload"), "/bin/kill -USR2 $MAINPID");
    let start: Vec<&str> = get("ExecStart").split_whitespace().collect();
    assert_eq!(&start[..2], ["/usr/local/bin/minicloud", "serve"]);
    let help = serve_help();
    for flag in start.iter().filter(|a| a.starts_with("--")) {
        assert!(
            help.contains(&format!("{flag} <")),
            "{flag} is not a flag of `minicloud serve`"
        );
    }
    let data_dir = start
        .iter()
        .position(|a| *a == "--data-dir")
        .map(|i| start[i + 1]);
    assert_eq!(
        data_dir,
        Some(format!("/var/lib/{}", get("StateDirectory")).as_str())
    );
}

/// What `minicloud serve --help` prints: every flag and its variable.
fn serve_help() -> String {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("minicloud");
    let help = std::process::Command::new(bin)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    String::from_utf8(help.stdout).unwrap()
}
