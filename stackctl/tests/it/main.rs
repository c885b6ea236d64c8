//! stackctl's integration tests, as one test binary: each module was once a
//! binary of its own, and every binary is a separate link of the whole
//! library on a two-core machine. The modules share nothing but the binary;
//! each test still brings up (and removes) whatever it needs itself.

mod audit;
mod audit_host;
mod audit_sensitive;

mod bench;
mod build;
mod compose;
mod database;
mod kubernetes;
mod scan;
mod swarm;
mod swarm_local;
mod swarm_two_nodes;
mod up;
mod verify;
