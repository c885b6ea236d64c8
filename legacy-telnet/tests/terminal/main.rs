//! The warehouse terminal over real TCP against the real API and database
//! (no mocks): sessions and every command, negotiation on the wire, hostile
//! clients, an API that is down, shutdown, memory, and the image on the host
//! network.
//!
//! One database container and one API serve every test (testkit removes them
//! at the end); each test starts a terminal of its own with the limits it needs.

#![allow(
    unreachable_pub,
    reason = "a test binary exports nothing; `pub` only shares items between its modules"
)]

mod fixture;
mod hostile;
mod image;
mod operations;
mod session;

use std::process::ExitCode;

use fixture::Shared;

fn main() -> ExitCode {
    let tests = [
        session::TESTS,
        hostile::TESTS,
        operations::TESTS,
        image::TESTS,
    ]
    .concat();
    testkit::run(tests, Shared::start, Shared::stop)
}
