//! A single-node swarm on this engine for a test or the bench (the overlay
//! path), shared safely between processes:
//!
//! - it is made (`swarm init`, advertising 127.0.0.1 only) only when the engine
//!   is in no swarm, and left (with the `docker_gwbridge` and `ingress`
//!   networks swarm mode leaves behind) only by the session that made it;
//! - a swarm the engine was already in is used as it is: never joined,
//!   changed or left;
//! - each session holds the machine-wide `swarm` lock from start to end, so
//!   one process cannot leave a swarm another is still deploying to.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context as _, bail};
use bollard::Docker;
use bollard::models::{LocalNodeState, SwarmInitRequest};
use bollard::query_parameters::LeaveSwarmOptionsBuilder;

use crate::machine_lock::MachineLock;

/// The networks swarm mode makes on a node and does not remove when it leaves.
pub const SWARM_NETWORKS: [&str; 2] = ["ingress", "docker_gwbridge"];

/// How long a session waits for another one to finish with the swarm.
const WAIT_FOR_OTHER_SESSION: Duration = Duration::from_secs(20 * 60);

/// A swarm to deploy to for the length of a session; see the module docs.
/// Call [`LocalSwarm::release`]; dropping it without releasing leaves the
/// swarm it made from a thread of its own.
#[derive(Debug)]
pub struct LocalSwarm {
    made_here: bool,
    released: bool,
    _lock: MachineLock,
}

impl LocalSwarm {
    /// Takes the swarm lock, then uses the engine's swarm if it manages one,
    /// or makes one if it is in none. An engine that is a worker, or whose
    /// swarm is pending, locked or in error, is refused with what to do.
    pub async fn ensure(docker: &Docker) -> anyhow::Result<LocalSwarm> {
        LocalSwarm::ensure_at(docker, IpAddr::V4(Ipv4Addr::LOCALHOST)).await
    }

    /// As [`LocalSwarm::ensure`], but a swarm made here listens on and
    /// advertises `addr` (an address of a link this session made, so that
    /// an engine of its own in a network namespace can join as a second
    /// node). A swarm the engine was already in keeps its own address:
    /// check [`LocalSwarm::made_here`] before joining anything to it.
    pub async fn ensure_at(docker: &Docker, addr: IpAddr) -> anyhow::Result<LocalSwarm> {
        let lock = MachineLock::acquire("swarm", "swarm session", WAIT_FOR_OTHER_SESSION).await?;
        let info = docker
            .info()
            .await
            .context("cannot ask the Docker engine whether it is in a swarm")?;
        let swarm = info.swarm.unwrap_or_default();
        let state = swarm.local_node_state.unwrap_or(LocalNodeState::INACTIVE);
        let made_here = match state {
            LocalNodeState::INACTIVE | LocalNodeState::EMPTY => {
                let request = SwarmInitRequest {
                    listen_addr: Some(SocketAddr::new(addr, 2377).to_string()),
                    advertise_addr: Some(addr.to_string()),
                    ..Default::default()
                };
                docker.init_swarm(request).await.with_context(|| {
                    format!("cannot make a single-node swarm on this engine (`docker swarm init --advertise-addr {addr}`)")
                })?;
                true
            }
            LocalNodeState::ACTIVE if swarm.control_available == Some(true) => false,
            LocalNodeState::ACTIVE => bail!(
                "this engine is a worker in a swarm, so nothing can be deployed from it; run this on a manager \
                 node, or leave that swarm first (`docker swarm leave`)"
            ),
            other => bail!(
                "this engine's swarm is {other}{}; repair it (`docker info`, `docker swarm leave --force`) and run \
                 this again",
                swarm
                    .error
                    .filter(|e| !e.is_empty())
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ),
        };
        Ok(LocalSwarm {
            made_here,
            released: false,
            _lock: lock,
        })
    }

    /// Whether this session made the swarm (and so will leave it).
    pub fn made_here(&self) -> bool {
        self.made_here
    }

    /// Ends the session: leaves the swarm and removes its networks if this
    /// session made it; otherwise changes nothing. The lock is let go last.
    pub async fn release(mut self) -> anyhow::Result<()> {
        self.released = true;
        if self.made_here {
            leave(&crate::engine::connect().await?).await?;
        }
        Ok(())
    }
}

impl Drop for LocalSwarm {
    fn drop(&mut self) {
        if self.released || !self.made_here {
            return;
        }
        // The caller's runtime may be shutting down: leave from a thread of
        // its own, and wait for it, so the lock is held until the swarm is gone.
        let _ = std::thread::spawn(|| {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(docker) = crate::engine::connect().await {
                    let _ = leave(&docker).await;
                }
            });
        })
        .join();
    }
}

/// `docker swarm leave --force`, then removes the networks it leaves behind.
async fn leave(docker: &Docker) -> anyhow::Result<()> {
    docker
        .leave_swarm(Some(LeaveSwarmOptionsBuilder::new().force(true).build()))
        .await
        .context("cannot leave the swarm this session made (`docker swarm leave --force`)")?;
    for network in SWARM_NETWORKS {
        match docker.remove_network(network).await {
            Ok(()) => {}
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(err) => {
                return Err(err).with_context(|| {
                    format!("cannot remove the network `{network}` swarm mode left behind")
                });
            }
        }
    }
    Ok(())
}
