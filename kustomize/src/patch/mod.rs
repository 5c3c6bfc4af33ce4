//! Patching Kubernetes objects the way kustomize does: strategic merge patches
//! with Kubernetes merge keys and strategies, and JSON 6902 patches.
