//! The API against the real database image (no mocks), over real HTTP.
//!
//! One database container and one API serve every test here; this binary has
//! its own `main` (testkit) so that the container is removed after the last
//! test. Tests that need a database of their own (the outage tests) start
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

use fixture::Shared;

fn main() -> ExitCode {
    let tests = [
        catalog::TESTS,
        orders::TESTS,
        validation::TESTS,
        concurrency::TESTS,
        openapi::TESTS,
        operations::TESTS,
        outage::TESTS,
    ]
    .concat();
    testkit::run(tests, Shared::start, Shared::stop)
}
