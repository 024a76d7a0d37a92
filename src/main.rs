use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    apigw_guard::cli::run(apigw_guard::cli::Cli::parse()).await
}
