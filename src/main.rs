use std::process::ExitCode;

use clap::Parser;

// mimalloc rather than glibc's malloc: idfed allocates many small strings (names, DNs, ranges,
// config lines), and glibc's allocator was a sixth of an LDAP pull's client time at 100,000
// users (benches/LDAP.md). Built without transparent huge pages (Cargo.toml: `no_thp`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match idfed::cli::Cli::try_parse() {
        Ok(cli) => cli,
        // Usage errors exit 1, not clap's 2: exit 2 means "not in the desired state".
        Err(err) => {
            let _ = err.print();
            if !err.use_stderr() {
                return ExitCode::SUCCESS;
            }
            if idfed::cli::asks_for_json(std::env::args_os()) {
                let message = idfed::cli::usage_message(&err);
                print!("{}", idfed::cmd::error_document(&message, &[]));
            }
            return ExitCode::from(1);
        }
    };
    let json = cli.format == idfed::cli::Format::Json;
    match idfed::run(cli) {
        Ok(finished) => {
            // The process ends next: what the command built is not freed piece by piece.
            std::mem::forget(finished.leftover);
            match finished.outcome {
                idfed::cmd::Outcome::Ok => ExitCode::SUCCESS,
                idfed::cmd::Outcome::NotDesired => ExitCode::from(2),
            }
        }
        Err(err) => {
            idfed::cmd::print_error(format_args!("{err:#}"));
            // `--format json`: stdout holds one JSON document, an error's too.
            if json && let Some(doc) = idfed::cmd::error_json(&err) {
                print!("{doc}");
            }
            ExitCode::from(1)
        }
    }
}
