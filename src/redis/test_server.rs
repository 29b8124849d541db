//! Tests only: a throwaway redis-server on a unix socket in a temp dir, started and killed by PID.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::Redis;

/// A throwaway redis-server on a unix socket, killed by PID on drop.
pub struct Server(Child, std::path::PathBuf);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

pub async fn server() -> (Server, Redis) {
    let dir = std::env::temp_dir().join(format!("ghl-redis-unit-{}-{:x}", std::process::id(), fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("redis.sock");
    let child = Command::new("redis-server")
        .args(["--port", "0", "--unixsocket"])
        .arg(&socket)
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server is installed");
    let server = Server(child, dir);
    let url = format!("unix://{}", socket.display()).parse().unwrap();
    for _ in 0..500 {
        if socket.exists() {
            let redis = Redis::connect(&url, "unit").await.unwrap();
            if redis.is_up() {
                return (server, redis);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("redis-server did not start");
}
