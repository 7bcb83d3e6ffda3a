//! `ldm`: latent diffusion training from a TOML experiment config.

mod cli;
mod commands;
mod experiment;
mod text;

use std::process::ExitCode;

use clap::Parser;
use ldm_core::stop;

fn main() -> ExitCode {
    ldm_core::alloc::keep_large_buffers();
    let cli = cli::Cli::parse();
    if let Err(e) = stop::install_signal_handlers() {
        eprintln!("warning: {e}; Ctrl-C will stop without a final checkpoint");
    }
    stop::set_until_step(cli.command.until_step());
    // The command runs on a worker of rayon's pool rather than on this thread: every kernel
    // splits its work with rayon, and from outside the pool each split is handed to a worker
    // and this thread sleeps until it is done (a wake-up and a context switch per operation).
    // From inside, the worker runs its share itself. Measured on the denoiser step: 1.82 ->
    // 2.19 steps/s on one thread, 3.04 -> 3.43 on two (`scripts/bench.sh`, which runs the
    // same way).
    match rayon::scope(|_| commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line a user can act on; the cause chain is joined rather than dumped.
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            let message = chain.join(": ");
            match stop::reason() {
                // A planned stop is a success; an interrupted one exits as shells expect
                // of SIGINT, after the checkpoint is safely on disk.
                Some(stop::Reason::UntilStep(_)) => {
                    println!("{message}");
                    ExitCode::SUCCESS
                }
                Some(stop::Reason::Signal) => {
                    eprintln!("{message}");
                    ExitCode::from(130)
                }
                None => {
                    eprintln!("error: {message}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
