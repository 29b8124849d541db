//! Wiring only: parse the command line, start logging, run the chosen command.

use ghl_subgraph::app::{shutdown_signal, App};
use ghl_subgraph::config::{Cli, Command};
use ghl_subgraph::{graphql, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Cli::parse_or_exit().into_command();
    telemetry::init();
    match command {
        Command::Serve(args) => {
            let app = App::build(args).await?;
            println!("{}", app.banner());
            app.run_until_stopped(shutdown_signal()).await?;
        }
        Command::Schema => print!("{}", graphql::federation_sdl().await),
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => ghl_sandbox::run_cli(args).await?,
        Command::Tokens(args) => print!("{}", ghl_subgraph::oauth::run_tokens_command(args).await?),
    }
    Ok(())
}
