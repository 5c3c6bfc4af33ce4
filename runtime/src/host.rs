//! The identity of this process as other components see it.

/// The pod name (Kubernetes sets the hostname to it), used as the event
/// reporting instance and the leader-election identity prefix. Falls back to
/// the kernel hostname outside a pod, and to `None` when neither is readable.
pub(crate) fn hostname() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}
