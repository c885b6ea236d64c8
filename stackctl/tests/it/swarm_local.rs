//! The single-node swarm that tests and the bench share: made only when the
//! engine is in none, and then left with the networks swarm mode leaves
//! behind; a swarm that was already there is used and left alone.

use bollard::models::LocalNodeState;
use stackctl::swarm::local::{LocalSwarm, SWARM_NETWORKS};

async fn state(docker: &bollard::Docker) -> (LocalNodeState, bool) {
    let swarm = docker.info().await.unwrap().swarm.unwrap_or_default();
    (
        swarm.local_node_state.unwrap_or(LocalNodeState::INACTIVE),
        swarm.control_available.unwrap_or(false),
    )
}

/// The engine is in no swarm, and the networks swarm mode makes are gone:
/// what a session (or the bench) that made a swarm must leave.
pub(crate) async fn assert_no_swarm_left(docker: &bollard::Docker) {
    let (state, _) = state(docker).await;
    assert_eq!(state, LocalNodeState::INACTIVE, "the swarm it made is left");
    for network in SWARM_NETWORKS {
        assert!(
            docker
                .inspect_network(
                    network,
                    None::<bollard::query_parameters::InspectNetworkOptions>
                )
                .await
                .is_err(),
            "`{network}` is removed with the swarm"
        );
    }
}

#[tokio::test]
async fn a_session_manages_a_swarm_and_leaves_only_the_one_it_made() {
    let docker = stackctl::engine::connect().await.unwrap();
    let session = LocalSwarm::ensure(&docker).await.unwrap();
    assert_eq!(
        state(&docker).await,
        (LocalNodeState::ACTIVE, true),
        "during a session the engine manages a swarm"
    );
    let made_here = session.made_here();
    session.release().await.unwrap();
    let (after, _) = state(&docker).await;
    if made_here {
        assert_no_swarm_left(&docker).await;
    } else {
        assert_eq!(
            after,
            LocalNodeState::ACTIVE,
            "a swarm it did not make stays"
        );
    }
}
