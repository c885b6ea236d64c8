//! The API against the real database image (no mocks), over real HTTP.
//!
//! One database container and one API serve every test here; this binary has
//! its own `main` (libtest-mimic) so that the container is removed after the
//! last test. Tests that need a database of their own (the outage tests) start
//! one. Tests isolate themselves by creating their own products and
//! customers rather than relying on counts others may change.

#![allow(
    unreachable_pub,
    reason = "a test binary exports nothing; `pub` only shares items between its modules"
)]

mod catalog;
mod concurrency;
mod fixture;
mod openapi;
mod operations;
mod orders;
mod outage;
mod validation;

use std::process::ExitCode;
use std::sync::Arc;

use fixture::{Shared, TestFn};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let tests: Vec<(&'static str, TestFn)> = [
        catalog::TESTS,
        orders::TESTS,
        validation::TESTS,
        concurrency::TESTS,
        openapi::TESTS,
        operations::TESTS,
        outage::TESTS,
    ]
    .concat();
    if args.list {
        let trials = tests
            .iter()
            .map(|(name, _)| Trial::test(*name, || Ok(())))
            .collect();
        return libtest_mimic::run(&args, trials).exit_code();
    }

    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let shared = match runtime.block_on(Shared::start()) {
        Ok(shared) => Arc::new(shared),
        Err(err) => {
            eprintln!("error: the shared database and API did not start: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let trials = tests
        .into_iter()
        .map(|(name, test)| {
            let (shared, handle) = (shared.clone(), runtime.handle().clone());
            Trial::test(name, move || {
                handle
                    .block_on(test(shared))
                    .map_err(|e| Failed::from(format!("{e:#}")))
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    runtime.block_on(async {
        if let Ok(shared) = Arc::try_unwrap(shared) {
            shared.stop().await;
        }
    });
    conclusion.exit_code()
}
