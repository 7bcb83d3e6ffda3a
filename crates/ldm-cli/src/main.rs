//! `ldm`: latent diffusion training from a TOML experiment config.

mod cli;
mod commands;
mod experiment;
mod text;

use std::process::ExitCode;

use clap::Parser;
use ldm_core::stop;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if let Err(e) = stop::install_signal_handlers() {
        eprintln!("warning: {e}; Ctrl-C will stop without a final checkpoint");
    }
    stop::set_until_step(cli.command.until_step());
    match commands::run(cli) {
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
