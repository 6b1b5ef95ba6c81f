use clap::Parser;

fn main() {
    let cli = slogate::cli::Cli::parse();
    slogate::logging::init(cli.verbose);
    // On one core (e.g. pinned with taskset) a multi-thread runtime only adds
    // hand-offs between the main thread and its one worker.
    let one_core = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let rt = if one_core {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    let code = match rt {
        Ok(rt) => rt.block_on(slogate::cli::dispatch(cli)),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            3
        }
    };
    std::process::exit(code);
}
