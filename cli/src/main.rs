//! `contaxy`: reads the command line, runs the command, exits with the code
//! that says what happened (docs/cli.md).

use clap::Parser;
use contaxy_cli::args::Cli;
use contaxy_cli::error::code;

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version are successes; any other mistake is a usage
            // error (clap's own code, 2, means "refused" here).
            let _ = error.print();
            std::process::exit(if error.use_stderr() {
                code::USAGE
            } else {
                code::OK
            });
        }
    };
    let status = match contaxy_cli::run(cli) {
        Ok(status) => status,
        Err(error) => {
            eprintln!("contaxy: {error}");
            error.exit_code()
        }
    };
    std::process::exit(status);
}
