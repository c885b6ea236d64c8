//! The checks `stackctl audit --host` adds: the CIS Docker Benchmark v1.6.0
//! recommendations about the machine, the daemon, its files, the images and
//! swarm mode, which no Compose file can express. Numbered as CIS v1.6.0
//! numbers them (so swarm mode is 5.1 and section 7 starts with the manager
//! count); docs/audit.md's parity table maps docker-bench-security's own ids,
//! which differ in sections 5 and 7, onto these.

use crate::audit::catalog::{Check, cis};
use crate::audit::finding::Severity::{High, Info, Low, Medium};

macro_rules! checks {
    ($($name:ident = $id:literal, $severity:ident, $title:literal, $help:literal;)*) => {
        $(
            #[doc = $title]
            pub const $name: Check = cis($id, $title, $severity, $help);
        )*
        /// Every host check, in report order.
        pub const CHECKS: &[Check] = &[$($name),*];
    };
}

checks! {
    SEPARATE_PARTITION = "CIS-1.1.1", Low, "Ensure a separate partition for containers has been created",
        "Images and containers filling the root filesystem take the host down with them.";
    DOCKER_GROUP = "CIS-1.1.2", Info, "Ensure only trusted users are allowed to control Docker daemon",
        "Every member of the docker group is root on the host: the socket starts privileged containers.";
    AUDIT_DOCKERD = "CIS-1.1.3", Low, "Ensure auditing is configured for the Docker daemon",
        "An audit rule on the daemon's binary records who replaced or ran it.";
    AUDIT_RUN_CONTAINERD = "CIS-1.1.4", Low, "Ensure auditing is configured for Docker files and directories - /run/containerd",
        "An audit rule records changes to containerd's runtime state.";
    AUDIT_VAR_LIB_DOCKER = "CIS-1.1.5", Low, "Ensure auditing is configured for Docker files and directories - /var/lib/docker",
        "An audit rule records changes to images, containers and volumes on disk.";
    AUDIT_ETC_DOCKER = "CIS-1.1.6", Low, "Ensure auditing is configured for Docker files and directories - /etc/docker",
        "An audit rule records changes to the daemon's configuration and keys.";
    AUDIT_SERVICE = "CIS-1.1.7", Low, "Ensure auditing is configured for Docker files and directories - docker.service",
        "An audit rule records changes to how the daemon is started.";
    AUDIT_CONTAINERD_SOCK = "CIS-1.1.8", Low, "Ensure auditing is configured for Docker files and directories - containerd.sock",
        "An audit rule records use of containerd's socket, which bypasses the Docker API.";
    AUDIT_SOCKET_UNIT = "CIS-1.1.9", Low, "Ensure auditing is configured for Docker files and directories - docker.socket",
        "An audit rule records changes to the socket unit that exposes the API.";
    AUDIT_DEFAULT = "CIS-1.1.10", Low, "Ensure auditing is configured for Docker files and directories - /etc/default/docker",
        "An audit rule records changes to the daemon's start options.";
    AUDIT_DAEMON_JSON = "CIS-1.1.11", Low, "Ensure auditing is configured for Dockerfiles and directories - /etc/docker/daemon.json",
        "An audit rule records changes to the daemon's configuration file.";
    AUDIT_CONTAINERD_CONFIG = "CIS-1.1.12", Low, "Ensure auditing is configured for Dockerfiles and directories - /etc/containerd/config.toml",
        "An audit rule records changes to containerd's configuration.";
    AUDIT_SYSCONFIG = "CIS-1.1.13", Low, "Ensure auditing is configured for Docker files and directories - /etc/sysconfig/docker",
        "An audit rule records changes to the daemon's start options.";
    AUDIT_CONTAINERD = "CIS-1.1.14", Low, "Ensure auditing is configured for Docker files and directories - /usr/bin/containerd",
        "An audit rule records who replaced or ran containerd.";
    AUDIT_SHIM = "CIS-1.1.15", Low, "Ensure auditing is configured for Docker files and directories - /usr/bin/containerd-shim",
        "An audit rule records who replaced or ran the shim.";
    AUDIT_SHIM_V1 = "CIS-1.1.16", Low, "Ensure auditing is configured for Docker files and directories - /usr/bin/containerd-shim-runc-v1",
        "An audit rule records who replaced or ran the shim.";
    AUDIT_SHIM_V2 = "CIS-1.1.17", Low, "Ensure auditing is configured for Docker files and directories - /usr/bin/containerd-shim-runc-v2",
        "An audit rule records who replaced or ran the shim.";
    AUDIT_RUNC = "CIS-1.1.18", Low, "Ensure auditing is configured for Docker files and directories - /usr/bin/runc",
        "An audit rule records who replaced or ran the container runtime.";
    ROOTLESS = "CIS-2.1", Info, "Run the Docker daemon as a non-root user, if possible",
        "A rootless daemon turns a container escape into a user account, not root.";
    ICC = "CIS-2.2", Medium, "Ensure network traffic is restricted between containers on the default bridge",
        "With inter-container communication on, every container on the default bridge reaches every other.";
    LOG_LEVEL = "CIS-2.3", Low, "Ensure the logging level is set to 'info'",
        "At `info` the daemon logs what an investigation needs without drowning it.";
    IPTABLES = "CIS-2.4", Medium, "Ensure Docker is allowed to make changes to iptables",
        "Without its iptables rules the daemon's networking is left to hand-made rules that drift.";
    INSECURE_REGISTRIES = "CIS-2.5", High, "Ensure insecure registries are not used",
        "An insecure registry serves images over plain HTTP or unverified TLS: anyone on the path can swap them.";
    AUFS = "CIS-2.6", Medium, "Ensure aufs storage driver is not used",
        "aufs is deprecated and has known kernel crashes and security problems.";
    TLS = "CIS-2.7", High, "Ensure TLS authentication for Docker daemon is configured",
        "The API on TCP without client certificates gives root on the host to whoever reaches the port.";
    DEFAULT_ULIMIT = "CIS-2.8", Info, "Ensure the default ulimit is configured appropriately",
        "Daemon-wide ulimits bound what a container gets when it sets none.";
    USERNS_REMAP = "CIS-2.9", Medium, "Enable user namespace support",
        "With user-namespace remapping, root in a container is an unprivileged uid on the host.";
    CGROUP_PARENT = "CIS-2.10", Low, "Ensure the default cgroup usage has been confirmed",
        "A daemon-wide cgroup parent moves every container's accounting; it should be deliberate.";
    BASE_DEVICE = "CIS-2.11", Low, "Ensure base device size is not changed until needed",
        "A larger devicemapper base size lets a container fill the thin pool.";
    AUTHZ = "CIS-2.12", Low, "Ensure that authorization for Docker client commands is enabled",
        "Without an authorization plugin every client of the socket may do everything.";
    REMOTE_LOGGING = "CIS-2.13", Low, "Ensure centralized and remote logging is configured",
        "Logs kept only on the host are lost, or rewritten, with the host.";
    DAEMON_NNP = "CIS-2.14", Medium, "Ensure containers are restricted from acquiring new privileges",
        "A daemon-wide no-new-privileges covers every container, also those started by hand.";
    LIVE_RESTORE = "CIS-2.15", Low, "Ensure live restore is enabled",
        "With live restore, containers keep running while the daemon restarts or is upgraded.";
    USERLAND_PROXY = "CIS-2.16", Medium, "Ensure Userland Proxy is Disabled",
        "docker-proxy is one more root process on every published port, and it copies each byte in user space.";
    SECCOMP_DEFAULT = "CIS-2.17", Info, "Ensure that a daemon-wide custom seccomp profile is applied if appropriate",
        "The daemon's seccomp profile is what every container without its own gets.";
    EXPERIMENTAL = "CIS-2.18", Low, "Ensure that experimental features are not implemented in production",
        "Experimental features are not covered by the engine's security support.";
    SERVICE_OWNER = "CIS-3.1", Medium, "Ensure that the docker.service file ownership is set to root:root",
        "Whoever can write the unit decides how the daemon, root, is started.";
    SERVICE_MODE = "CIS-3.2", Medium, "Ensure that docker.service file permissions are appropriately set",
        "A unit others can write is a way to root.";
    SOCKET_UNIT_OWNER = "CIS-3.3", Medium, "Ensure that docker.socket file ownership is set to root:root",
        "Whoever can write the socket unit decides who may reach the API.";
    SOCKET_UNIT_MODE = "CIS-3.4", Medium, "Ensure that docker.socket file permissions are set to 644 or more restrictive",
        "A socket unit others can write is a way to root.";
    ETC_DOCKER_OWNER = "CIS-3.5", Medium, "Ensure that the /etc/docker directory ownership is set to root:root",
        "/etc/docker holds the daemon's configuration and keys.";
    ETC_DOCKER_MODE = "CIS-3.6", Medium, "Ensure that /etc/docker directory permissions are set to 755 or more restrictively",
        "A writable /etc/docker lets others replace the daemon's configuration.";
    REGISTRY_CERT_OWNER = "CIS-3.7", Medium, "Ensure that registry certificate file ownership is set to root:root",
        "Registry certificates decide which registries the daemon trusts.";
    REGISTRY_CERT_MODE = "CIS-3.8", Medium, "Ensure that registry certificate file permissions are set to 444 or more restrictively",
        "A writable registry certificate lets others make the daemon trust their registry.";
    CA_OWNER = "CIS-3.9", Medium, "Ensure that TLS CA certificate file ownership is set to root:root",
        "The CA certificate decides which clients the daemon accepts.";
    CA_MODE = "CIS-3.10", Medium, "Ensure that TLS CA certificate file permissions are set to 444 or more restrictively",
        "A writable CA certificate lets others admit their own clients.";
    CERT_OWNER = "CIS-3.11", Medium, "Ensure that Docker server certificate file ownership is set to root:root",
        "The server certificate is the daemon's identity.";
    CERT_MODE = "CIS-3.12", Medium, "Ensure that the Docker server certificate file permissions are set to 444 or more restrictively",
        "A writable server certificate lets others replace the daemon's identity.";
    KEY_OWNER = "CIS-3.13", High, "Ensure that the Docker server certificate key file ownership is set to root:root",
        "The server key must belong to root alone.";
    KEY_MODE = "CIS-3.14", High, "Ensure that the Docker server certificate key file permissions are set to 400",
        "A readable server key lets others impersonate the daemon.";
    SOCK_OWNER = "CIS-3.15", High, "Ensure that the Docker socket file ownership is set to root:docker",
        "The socket's group decides who is root on the host.";
    SOCK_MODE = "CIS-3.16", High, "Ensure that the Docker socket file permissions are set to 660 or more restrictively",
        "A socket others can write gives root to every local user.";
    DAEMON_JSON_OWNER = "CIS-3.17", Medium, "Ensure that the daemon.json file ownership is set to root:root",
        "daemon.json decides the daemon's security settings.";
    DAEMON_JSON_MODE = "CIS-3.18", Medium, "Ensure that daemon.json file permissions are set to 644 or more restrictive",
        "A writable daemon.json lets others turn the daemon's protections off.";
    DEFAULT_OWNER = "CIS-3.19", Medium, "Ensure that the /etc/default/docker file ownership is set to root:root",
        "/etc/default/docker holds the daemon's start options.";
    DEFAULT_MODE = "CIS-3.20", Medium, "Ensure that the /etc/default/docker file permissions are set to 644 or more restrictively",
        "A writable /etc/default/docker lets others change the daemon's options.";
    SYSCONFIG_MODE = "CIS-3.21", Medium, "Ensure that the /etc/sysconfig/docker file permissions are set to 644 or more restrictively",
        "A writable /etc/sysconfig/docker lets others change the daemon's options.";
    SYSCONFIG_OWNER = "CIS-3.22", Medium, "Ensure that the /etc/sysconfig/docker file ownership is set to root:root",
        "/etc/sysconfig/docker holds the daemon's start options.";
    CONTAINERD_SOCK_OWNER = "CIS-3.23", High, "Ensure that the Containerd socket file ownership is set to root:root",
        "containerd's socket runs containers without the Docker API's checks.";
    CONTAINERD_SOCK_MODE = "CIS-3.24", High, "Ensure that the Containerd socket file permissions are set to 660 or more restrictively",
        "A containerd socket others can write gives root to every local user.";
    CONTENT_TRUST = "CIS-4.5", Low, "Ensure Content trust for Docker is Enabled",
        "An image pulled without a verified signature may not be the one its publisher pushed.";
    UPDATE_ALONE = "CIS-4.7", Low, "Ensure update instructions are not used alone in the Dockerfile",
        "A cached `apt-get update` layer installs stale packages in later builds.";
    SETUID = "CIS-4.8", Medium, "Ensure setuid and setgid permissions are removed",
        "Setuid and setgid programs are how a process in the container gains privileges it was not started with.";
    ADD = "CIS-4.9", Low, "Ensure that COPY is used instead of ADD in Dockerfiles",
        "ADD fetches URLs and unpacks archives on its own: more than a copy, less than reviewed.";
    IMAGE_SECRETS = "CIS-4.10", High, "Ensure secrets are not stored in Dockerfiles",
        "A secret in an image's history or environment is in every copy of the image.";
    SWARM = "CIS-5.1", Low, "Ensure swarm mode is not Enabled, if not needed",
        "Swarm mode opens management ports and runs a certificate authority on the host.";
    ULIMIT = "CIS-5.19", Info, "Ensure that the default ulimit is overwritten at runtime if needed",
        "A container without ulimits gets the daemon's, which may be more than it needs.";
    EXEC_PRIVILEGED = "CIS-5.23", High, "Ensure that docker exec commands are not used with the privileged option",
        "A privileged exec gets every capability, whatever the container dropped.";
    EXEC_ROOT = "CIS-5.24", Medium, "Ensure that docker exec commands are not used with the user=root option",
        "An exec as root runs with the container's root, not its service account.";
    DOCKER0 = "CIS-5.30", Low, "Ensure that Docker's default bridge 'docker0' is not used",
        "Containers on the default bridge share one network with every other container there.";
    SWARM_MANAGERS = "CIS-7.1", Low, "Ensure that the minimum number of manager nodes have been created in a swarm",
        "Each manager holds the whole cluster's state and keys.";
    SWARM_BIND = "CIS-7.2", Medium, "Ensure that swarm services are bound to a specific host interface",
        "The swarm management port on every interface is on every network the host is on.";
    OVERLAY_ENCRYPTED = "CIS-7.3", Medium, "Ensure that all Docker swarm overlay networks are encrypted",
        "An unencrypted overlay carries the containers' traffic between nodes in clear text.";
    SWARM_SECRETS = "CIS-7.4", Info, "Ensure that Docker's secret management commands are used for managing secrets in a swarm cluster",
        "Swarm secrets are encrypted at rest and given only to the services that need them.";
    AUTOLOCK = "CIS-7.5", Medium, "Ensure that swarm manager is run in auto-lock mode",
        "Without auto-lock a stolen manager disk holds the cluster's keys in clear.";
    AUTOLOCK_ROTATION = "CIS-7.6", Info, "Ensure that the swarm manager auto-lock key is rotated periodically",
        "A rotated unlock key limits what a leaked one opens.";
    NODE_CERTS = "CIS-7.7", Low, "Ensure that node certificates are rotated as appropriate",
        "Short-lived node certificates limit what a stolen one is good for.";
    CA_ROTATION = "CIS-7.8", Info, "Ensure that CA certificates are rotated as appropriate",
        "A rotated cluster CA limits what a leaked CA key signs.";
    PLANE_SEPARATION = "CIS-7.9", Info, "Ensure that management plane traffic is separated from data plane traffic",
        "Management and data on one interface let a busy or hostile data plane reach the managers.";
}
