use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
    let cli = slogate::cli::Cli::parse();
    let default = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_env("SLOGATE_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let code = match rt {
        Ok(rt) => rt.block_on(slogate::cli::dispatch(cli)),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            3
        }
    };
    std::process::exit(code);
}
