//! Throwaway Kubernetes control plane for tests.
