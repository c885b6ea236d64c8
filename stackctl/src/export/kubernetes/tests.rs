//! Unit tests of the Kubernetes export.
