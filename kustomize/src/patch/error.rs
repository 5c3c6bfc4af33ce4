//! Errors of the patch engine.

/// Why a strategic merge patch or a JSON 6902 patch could not be applied.
///
/// Strategic-merge variants name the field path in the target (`spec.template
/// .spec.containers[name=app]`); JSON 6902 variants name the operation (its
/// position in the list, counting from 0, and its `op`) and its pointer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PatchError {
    /// The patch has a value of another kind (map, list or scalar) than the
    /// target at the same path.
    #[error(
        "strategic merge patch: wrong node kind at {path}: expected {expected} but got {found}"
    )]
    MergeKindMismatch {
        /// Path of the value in the target.
        path: String,
        /// Kind of the value in the target (or of the list's items).
        expected: &'static str,
        /// Kind of the value in the patch.
        found: &'static str,
    },
    /// A `$patch` directive other than `merge`, `replace` or `delete`.
    #[error("strategic merge patch: unknown patch strategy '{value}' at {path}")]
    UnknownDirective {
        /// Path of the map or list that carries the directive.
        path: String,
        /// The directive's value.
        value: String,
    },
    /// The JSON 6902 patch is not a list of operation objects.
    #[error("JSON 6902 patch is not a list of operations: {0}")]
    Json6902NotAList(String),
    /// An operation has an `op` other than add, remove, replace, move, copy or test.
    #[error("JSON 6902 operation {index}: unexpected op '{op}'")]
    Json6902UnknownOp {
        /// Position of the operation in the patch.
        index: usize,
        /// The operation's `op` (`unknown` when missing).
        op: String,
    },
    /// An operation lacks its `path` (or `from`) member, or it is not a string.
    #[error("JSON 6902 operation {index} ({op}): missing or invalid '{member}'")]
    Json6902MissingMember {
        /// Position of the operation in the patch.
        index: usize,
        /// The operation's `op`.
        op: String,
        /// The missing member: `path` or `from`.
        member: &'static str,
    },
    /// The pointer's parent does not exist in the target, or is a scalar.
    #[error("JSON 6902 operation {index} ({op}): doc is missing path {path:?}")]
    Json6902MissingPath {
        /// Position of the operation in the patch.
        index: usize,
        /// The operation's `op`.
        op: String,
        /// The pointer that could not be resolved.
        path: String,
    },
    /// The pointer names a map key that does not exist (remove, move).
    #[error("JSON 6902 operation {index} ({op}): unable to remove nonexistent key at {path:?}")]
    Json6902MissingKey {
        /// Position of the operation in the patch.
        index: usize,
        /// The operation's `op`.
        op: String,
        /// The pointer to the missing key.
        path: String,
    },
    /// The pointer's last token is not a valid index of the list it points into.
    #[error("JSON 6902 operation {index} ({op}): invalid list index at {path:?}")]
    Json6902InvalidIndex {
        /// Position of the operation in the patch.
        index: usize,
        /// The operation's `op`.
        op: String,
        /// The pointer with the invalid index.
        path: String,
    },
    /// A `test` operation found a different value.
    #[error("JSON 6902 operation {index} (test): testing value {path:?} failed")]
    Json6902TestFailed {
        /// Position of the operation in the patch.
        index: usize,
        /// The tested pointer.
        path: String,
    },
}
