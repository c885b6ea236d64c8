//! The services' `depends_on` graph: which services a selection needs, and
//! an order to start them in (validation has already refused cycles).

use std::collections::BTreeSet;

use crate::compose::ComposeFile;

/// `selected` and everything they depend on, transitively; every service
/// when `selected` is empty.
pub fn with_dependencies(file: &ComposeFile, selected: &[String]) -> BTreeSet<String> {
    if selected.is_empty() {
        return file.services.keys().cloned().collect();
    }
    let mut wanted = BTreeSet::new();
    let mut pending: Vec<String> = selected.to_vec();
    while let Some(name) = pending.pop() {
        if !wanted.insert(name.clone()) {
            continue;
        }
        if let Some(service) = file.services.get(&name) {
            pending.extend(service.depends_on.0.keys().cloned());
        }
    }
    wanted
}

/// `services` in an order where each comes after its dependencies (ties by name).
pub fn start_order(file: &ComposeFile, services: &BTreeSet<String>) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    while order.len() < services.len() {
        let before = order.len();
        for name in services {
            if order.contains(name) {
                continue;
            }
            let ready = file.services.get(name).is_none_or(|s| {
                s.depends_on
                    .0
                    .keys()
                    .all(|dep| !services.contains(dep) || order.contains(dep))
            });
            if ready {
                order.push(name.clone());
            }
        }
        if order.len() == before {
            // A cycle: validation refuses these, but never loop forever.
            order.extend(
                services
                    .iter()
                    .filter(|s| !order.contains(s))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
        }
    }
    order
}

/// The services that depend on `name` with `restart: true`, transitively:
/// they are restarted when `name` is recreated.
pub fn restart_followers(file: &ComposeFile, name: &str) -> BTreeSet<String> {
    let mut followers = BTreeSet::new();
    let mut pending = vec![name.to_owned()];
    while let Some(current) = pending.pop() {
        for (service_name, service) in &file.services {
            if service
                .depends_on
                .0
                .get(&current)
                .is_some_and(|d| d.restart)
                && followers.insert(service_name.clone())
            {
                pending.push(service_name.clone());
            }
        }
    }
    followers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::Project;

    fn file() -> ComposeFile {
        let text = "services:\n  db: {image: d}\n  api: {image: a, depends_on: [db]}\n  web: {image: w, depends_on: {api: {condition: service_healthy, restart: true}}}\n  telnet: {image: t, depends_on: [api]}\n";
        Project::parse(text, std::path::Path::new("c.yaml"))
            .unwrap()
            .model
    }

    #[test]
    fn a_selection_brings_its_dependencies() {
        let wanted = with_dependencies(&file(), &["web".to_owned()]);
        assert_eq!(wanted.into_iter().collect::<Vec<_>>(), ["api", "db", "web"]);
    }

    #[test]
    fn dependencies_start_first() {
        let all = with_dependencies(&file(), &[]);
        let order = start_order(&file(), &all);
        let position = |s: &str| order.iter().position(|o| o == s).unwrap();
        assert!(position("db") < position("api"));
        assert!(position("api") < position("web") && position("api") < position("telnet"));
    }

    #[test]
    fn only_restart_dependents_follow_a_recreated_service() {
        assert_eq!(
            restart_followers(&file(), "api")
                .into_iter()
                .collect::<Vec<_>>(),
            ["web"]
        );
        assert!(restart_followers(&file(), "web").is_empty());
    }
}
