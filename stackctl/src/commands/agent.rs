//! `stackctl agent firewall|healthcheck`: what the firewall agent's image
//! runs on each node (see [`crate::swarm::agent`]).

use crate::cli::AgentCommand;
use crate::swarm::agent;

pub(crate) async fn run(command: AgentCommand) -> anyhow::Result<()> {
    match command {
        AgentCommand::Firewall => {
            let plan = agent::load_policy()?;
            agent::run(plan, servicekit::shutdown_signal()).await
        }
        AgentCommand::Healthcheck => agent::healthcheck(),
    }
}
