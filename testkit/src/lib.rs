//! A harness for integration-test binaries whose tests share one expensive
//! fixture, such as a database container and a server. libtest's own harness
//! has no "after all tests" hook, so containers made for a whole binary would
//! outlive it; with this one the binary has its own `main` (`harness = false`),
//! starts the fixture once, runs every test (in parallel, with libtest's
//! filters and output), and then stops the fixture.
//!
//! ```text
//! testkit::tests!(Fixture; a_test, another_test);
//! fn main() -> std::process::ExitCode {
//!     testkit::run(TESTS.to_vec(), Fixture::start, Fixture::stop)
//! }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};

/// A test: an async function of the shared fixture.
pub type TestFn<F> = fn(Arc<F>) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// Declares `pub const TESTS` from async test functions of the fixture type:
/// `testkit::tests!(Fixture; first_test, second_test);`.
#[macro_export]
macro_rules! tests {
    ($fixture:ty; $($name:ident),* $(,)?) => {
        pub const TESTS: &[(&str, $crate::TestFn<$fixture>)] = &[
            $((concat!(module_path!(), "::", stringify!($name)), |fixture| Box::pin($name(fixture)))),*
        ];
    };
}

/// Starts the fixture, runs the tests, stops the fixture, and returns the
/// exit code. `--list` lists the tests without starting anything.
pub fn run<F, Start, Started, Stop, Stopped>(
    tests: Vec<(&'static str, TestFn<F>)>,
    start: Start,
    stop: Stop,
) -> ExitCode
where
    F: Send + Sync + 'static,
    Start: FnOnce() -> Started,
    Started: Future<Output = anyhow::Result<F>>,
    Stop: FnOnce(F) -> Stopped,
    Stopped: Future<Output = ()>,
{
    let args = Arguments::from_args();
    if args.list {
        let trials = tests
            .iter()
            .map(|(name, _)| Trial::test(*name, || Ok(())))
            .collect();
        return libtest_mimic::run(&args, trials).exit_code();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start a tokio runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let fixture = match runtime.block_on(start()) {
        Ok(fixture) => Arc::new(fixture),
        Err(err) => {
            eprintln!("error: the shared test fixture did not start: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let trials = tests
        .into_iter()
        .map(|(name, test)| {
            let (fixture, handle) = (fixture.clone(), runtime.handle().clone());
            Trial::test(name, move || {
                handle
                    .block_on(test(fixture))
                    .map_err(|e| Failed::from(format!("{e:#}")))
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    if let Ok(fixture) = Arc::try_unwrap(fixture) {
        runtime.block_on(stop(fixture));
    }
    conclusion.exit_code()
}
