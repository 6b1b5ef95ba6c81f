use clap::Parser;

fn main() {
    let cli = slogate::cli::Cli::parse();
    slogate::logging::init(cli.verbose);
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
