//! Docker Swarm: the stack beyond one machine.
//!
//! [`local`] gives tests and the bench a single-node swarm on this engine,
//! made only when the engine is in none and left only by whoever made it;
//! [`agent`] is the firewall agent that carries the per-uid egress rules to
//! every node; [`spec`] turns the exported stack file's services into the
//! Engine API's service specs, and [`deploy`] deploys, lists and removes a
//! stack with them.

pub mod agent;
pub mod deploy;
pub mod local;
pub mod spec;
