//! Scale-out harness: a real `redis-server` (Debian's package) on a unix socket in a temp dir,
//! started and killed by PID, and N subgraph replicas against ONE sandbox sharing it.

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ghl_sandbox::{RunningSandbox, Sandbox};
use serde_json::{json, Value};

use crate::helpers::{local_listener, serve_args, serve_on, Running, Setup};

/// A throwaway Redis: no persistence, no TCP port, its socket in a directory of its own.
pub struct RedisServer {
    child: Option<Child>,
    dir: PathBuf,
}

impl RedisServer {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("ghl-redis-{}-{:016x}", std::process::id(), fastrand::u64(..)));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut server = Self { child: None, dir };
        server.restart();
        server
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("redis.sock")
    }

    pub fn url(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// Starts redis-server (again, after [`kill`](Self::kill)) and waits until it answers PING.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(self.socket())
            .args(["--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/run installs Debian's redis-server)");
        self.child = Some(child);
        let started = Instant::now();
        while !self.answers() {
            assert!(started.elapsed() < Duration::from_secs(10), "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn answers(&self) -> bool {
        let Ok(mut stream) = UnixStream::connect(self.socket()) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
    }

    /// One command on a connection of its own.
    pub fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        let mut connection = redis::Client::open(self.url())?.get_connection()?;
        cmd.query(&mut connection)
    }

    /// SIGKILL by PID (nothing is flushed: Redis's memory is gone).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(self.socket());
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One sandbox, one Redis, N replicas of the subgraph sharing it.
pub struct Cluster {
    pub sandbox: RunningSandbox,
    pub redis: RedisServer,
    pub replicas: Vec<Running>,
    pub http: reqwest::Client,
    /// The replicas' `--redis-prefix`.
    pub prefix: String,
}

impl Cluster {
    /// `replicas` subgraphs on `setup` (its sandbox config included), each with `--redis-url`
    /// and a prefix of this cluster only.
    pub async fn start(replicas: usize, setup: Setup) -> Self {
        let redis = RedisServer::start();
        let sandbox = Sandbox::spawn(setup.sandbox.clone()).await.expect("sandbox starts");
        let prefix = format!("test-{:08x}", fastrand::u32(..));
        let mut running = Vec::new();
        for _ in 0..replicas {
            let mut args = serve_args(&sandbox.base_url(), &setup);
            args.redis.redis_url = Some(redis.url().parse().expect("redis url"));
            args.redis.redis_prefix = prefix.clone();
            args.redis.expected_replicas = u32::try_from(replicas).expect("few");
            running.push(serve_on(local_listener().await, args).await);
        }
        // No Nagle: a POST written in two parts would otherwise wait for a delayed ACK (40 ms).
        let http = reqwest::Client::builder().tcp_nodelay(true).pool_max_idle_per_host(256).build().expect("client");
        let cluster = Self { sandbox, redis, replicas: running, http, prefix };
        cluster.wait_until_shared().await;
        cluster
    }

    /// Waits until every replica follows the changes channel (Redis's `PUBSUB NUMSUB`).
    pub async fn wait_until_shared(&self) {
        let started = Instant::now();
        let channel = format!("{}:changes", self.prefix);
        loop {
            let followers = self.redis.query(redis::cmd("PUBSUB").arg("NUMSUB").arg(&channel)).map(|(_, n): (String, usize)| n).unwrap_or(0);
            if followers >= self.replicas.len() {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "{followers} of {} replicas follow the changes channel", self.replicas.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, replica: usize) -> &str {
        &self.replicas[replica].url
    }

    pub async fn graphql(&self, replica: usize, query: &str, variables: Value) -> Value {
        let body = json!({ "query": query, "variables": variables });
        let response = self.http.post(format!("{}/graphql", self.url(replica))).json(&body).send().await.expect("request sent");
        response.json().await.expect("JSON response")
    }

    /// One Prometheus metric summed over its label sets (the recorder is one per process, so
    /// every replica of a test reports the same numbers).
    pub async fn metric(&self, replica: usize, name: &str) -> f64 {
        let text = self.http.get(format!("{}/metrics", self.url(replica))).send().await.expect("metrics").text().await.expect("text");
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter(|line| line.split([' ', '{']).next() == Some(name))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}
