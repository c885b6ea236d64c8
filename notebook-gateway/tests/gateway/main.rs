//! The notebook gateway against the real API and database (no mocks): its
//! client, its report, its dashboard and Network page (also in a real
//! browser), an API that goes away, its memory, its image on the host
//! network.
//!
//! One database container and one API serve every test (testkit removes
//! them at the end); tests that need an API of their own start one.

#![allow(
    unreachable_pub,
    reason = "a test binary exports nothing; `pub` only shares items between its modules"
)]

mod browser;
mod client;
mod dashboard;
mod fixture;
mod image;
mod network;
mod report;

use std::process::ExitCode;

use fixture::Shared;

fn main() -> ExitCode {
    let tests = [
        client::TESTS,
        report::TESTS,
        dashboard::TESTS,
        network::TESTS,
        browser::TESTS,
        image::TESTS,
    ]
    .concat();
    testkit::run(tests, Shared::start, Shared::stop)
}
