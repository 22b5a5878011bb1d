//! keeplite entry point: parse the command line and dispatch.

use keeplite::cli::{self, Command};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The appliance's upgrade commands have their own arguments (keeplite upgrade --help).
    if let Some(cmd @ ("upgrade" | "slot" | "bundle")) = args.first().map(String::as_str) {
        std::process::exit(keeplite::upgrade::main(cmd, &args[1..]));
    }
    let opts = match cli::parse_args(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("keeplite: {e}\nTry `keeplite --help`.");
            std::process::exit(1);
        }
    };
    let status = match &opts.command {
        Command::Help => {
            print!("{}", cli::USAGE);
            0
        }
        Command::Version => {
            println!("keeplite {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Command::ConfigTest | Command::Dump => cli::check_config(&opts, &opts.config_file),
        Command::Run => keeplite::daemon::run(&opts),
        Command::Status { json } => keeplite::daemon::status(&opts, *json),
        Command::Reload => keeplite::daemon::reload(&opts),
    };
    std::process::exit(status);
}
