//! End-to-end tests of the ShopDotCom stack on the real Docker engine. They
//! prove the project's three claims about host networking:
//!
//! - `tests/stack.rs`: services reach each other simply over `localhost`
//!   (from the host and from inside each container's own process), and the
//!   lost isolation is made up for (a LAN client in a namespace of its own
//!   reaches only what binds every address; the firewall refuses each
//!   service's uid what its policy does not allow; every container runs
//!   without capabilities, read-only, as a non-root user, with limits).
//! - `tests/gain.rs`: host networking is faster: request/response latency to
//!   the same server (the bench's probe, measured with `stackctl bench`'s
//!   latency client) on the host network and behind the bridge's published
//!   `127.0.0.1` port.
//!
//! Which tool starts the containers, and why:
//! - The whole stack is started with **stackctl's library**
//!   (`stackctl::testbed::Testbed` and `stackctl::stack::up`): the claims
//!   under test are about the stack exactly as `stackctl up` runs it (the
//!   hardening from `compose.yaml`, secrets, depends_on conditions, the
//!   per-uid firewall), which testcontainers would have to re-declare by
//!   hand, and any difference would be a test of something else.
//! - The host-vs-bridge measurement uses **testcontainers**: two plain
//!   containers of one locally built image (the probe's), one on the host
//!   network and one on the default bridge with a published port, removed
//!   when dropped. With host networking its mapped-port and HTTP wait
//!   helpers do not apply, so it waits on the image's health check and uses
//!   ports the test picks.
//!
//! Every test uses its own project name and free ports, never the defaults
//! a user's running stack holds, so the tests run in parallel and beside
//! `stackctl up`. Traffic goes only to loopback and to namespaces and
//! containers the tests made.

pub mod console;
pub mod transcript;
