//! A real server on a loopback port, over a fresh database, with an
//! in-process worker running the fake analyzer (tests/fixtures).

#![allow(dead_code)]

pub mod seed;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sizegate_server::{AppState, ServerConfig, ServerMetrics};
use sizegate_store::blob::LocalBlobStore;
use sizegate_store::{RepoName, Store};
use sizegate_worker::{Worker, WorkerConfig, WorkerMetrics};
use tokio_util::sync::CancellationToken;

pub struct TestServer {
    pub url: String,
    pub store: Store,
    pub data: tempfile::TempDir,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// A fresh GitHub App key pair made by openssl: the private key as PEM
/// (for our client) and the public key as DER (for the fake GitHub).
pub fn github_app_key() -> (String, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("app.pem");
    let public = dir.path().join("app.der");
    let ok = std::process::Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&private)
        .arg("2048")
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl genrsa failed");
    let ok = std::process::Command::new("openssl")
        .args(["rsa", "-RSAPublicKey_out", "-outform", "DER", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl rsa failed");
    (
        std::fs::read_to_string(private).unwrap(),
        std::fs::read(public).unwrap(),
    )
}

pub fn fake_analyzer() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/fake-analyzer")
}

impl TestServer {
    pub async fn start(pool: sqlx::PgPool) -> Self {
        Self::start_with(pool, ServerConfig::for_tests(), true).await
    }

    pub async fn start_with(pool: sqlx::PgPool, config: ServerConfig, worker: bool) -> Self {
        Self::start_reporting(pool, config, worker, None).await
    }

    /// Like [`TestServer::start_with`], the workers reporting through `github`.
    pub async fn start_reporting(
        pool: sqlx::PgPool,
        config: ServerConfig,
        worker: bool,
        github: Option<Arc<sizegate_github::GitHubClient>>,
    ) -> Self {
        sizegate_store::install_crypto_provider();
        let store = Store::new(pool);
        let data = tempfile::tempdir().unwrap();
        let blobs = Arc::new(LocalBlobStore::open(data.path()).await.unwrap());
        let worker_metrics = Arc::new(WorkerMetrics::default());
        let state = AppState {
            store: store.clone(),
            blobs: blobs.clone(),
            config: Arc::new(config),
            metrics: Arc::new(ServerMetrics::default()),
            worker_metrics: worker_metrics.clone(),
            oidc: None,
        };
        let shutdown = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut tasks = vec![tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                sizegate_server::serve(listener, state, shutdown)
                    .await
                    .unwrap()
            }
        })];
        if worker {
            let mut config = WorkerConfig::for_tests(fake_analyzer());
            config.concurrency = 2;
            let mut worker = Worker::new(store.clone(), blobs, config, worker_metrics);
            if let Some(github) = github {
                worker = worker.with_github(github);
            }
            tasks.push(tokio::spawn(worker.run(shutdown.clone())));
        }
        TestServer {
            url,
            store,
            data,
            client: reqwest::Client::new(),
            shutdown,
            tasks,
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            task.await.unwrap();
        }
    }

    pub async fn token(&self, repo: &str) -> String {
        self.store
            .create_upload_token(&RepoName::parse(repo).unwrap())
            .await
            .unwrap()
            .token
    }

    pub async fn upload(
        &self,
        token: Option<&str>,
        meta: &Value,
        artifacts: &[(&str, Vec<u8>)],
    ) -> (u16, Value) {
        let mut form = reqwest::multipart::Form::new().text("meta", meta.to_string());
        for (target, bytes) in artifacts {
            form = form.part(
                "artifact",
                reqwest::multipart::Part::bytes(bytes.clone()).file_name(target.to_string()),
            );
        }
        let mut request = self
            .client
            .post(format!("{}/api/v1/uploads", self.url))
            .multipart(form);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Poll the report of `commit` in `repo` until `done` holds; after
    /// `within`, fail with the last answer and what `context` tells.
    pub async fn wait_for_report(
        &self,
        repo: &str,
        commit: &str,
        within: Duration,
        done: impl Fn(&Value) -> bool,
        context: impl Fn() -> String,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let (status, body) = self
                .get(&format!("/api/v1/repos/{repo}/commits/{commit}/report"))
                .await;
            if status == 200 && done(&body) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "report not ready: {status} {body}{}",
                context()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Poll a commit until every target is done or failed.
    pub async fn wait_complete(&self, repo: &str, sha: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = self
                .get(&format!("/api/v1/repos/{repo}/commits/{sha}"))
                .await;
            assert_eq!(status, 200, "{body}");
            if body["complete"] == Value::Bool(true) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "commit not complete in 60 s: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Files under the data directory (blobs and temporary files), relative to it.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.data.path().to_owned()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let entry = entry.unwrap();
                if entry.file_type().unwrap().is_dir() {
                    stack.push(entry.path());
                } else {
                    out.push(
                        entry
                            .path()
                            .strip_prefix(self.data.path())
                            .unwrap()
                            .to_owned(),
                    );
                }
            }
        }
        out
    }
}

pub fn sha(n: u32) -> String {
    format!("{n:040x}")
}

pub fn meta(repo: &str, commit: &str) -> Value {
    serde_json::json!({ "repo": repo, "commit": commit, "branch": "main" })
}
