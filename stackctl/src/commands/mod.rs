//! One module per subcommand; each turns parsed arguments into calls on the
//! library and writes its result to the given output.

pub(crate) mod agent;
pub(crate) mod audit;
pub(crate) mod bench;
pub(crate) mod build;
pub(crate) mod config;
pub(crate) mod down;
pub(crate) mod export;
pub(crate) mod lock;
pub(crate) mod logs;
pub(crate) mod ps;
pub(crate) mod scan;
pub(crate) mod swarm;
pub(crate) mod up;
pub(crate) mod verify;
