use apigw_guard::cli::{self, Cli, Command};
use apigw_guard::k8s::operator;
use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match Cli::parse().command {
        Command::Run(args) => cli::exit_code(operator::run(args).await.map(|()| true)),
        Command::Tool(tool) => cli::run(tool).await,
    }
}
