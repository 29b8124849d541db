//! Runs the sandbox alone, like `ghl-subgraph sandbox`: `cargo run -p ghl-sandbox --example serve -- --help`.

use clap::Parser;
use ghl_sandbox::{run_cli, SandboxArgs};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    sandbox: SandboxArgs,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    run_cli(Cli::parse().sandbox).await
}
