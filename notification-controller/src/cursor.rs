//! Which Kubernetes Event occurrences are already handled, so that a restart
//! neither resends old events nor loses events that arrived while down.
//!
//! Events are Kubernetes objects with a time, and a watch (re)start lists
//! every Event still stored. The [`Cursor`] decides which occurrences to
//! handle:
//!
//! * nothing older than the **floor** is handled. The first start sets it to
//!   the start time (a fresh install does not announce the past hour); later
//!   it trails the newest handled occurrence by [`REORDER_WINDOW`];
//! * occurrences at or above the floor are handled unless they are in the
//!   **done** set (handled, persisted) or in flight.
//!
//! The window absorbs events that reach the API server out of order (slow
//! writers, retries, long deliveries) without losing them. An occurrence
//! counts as done only once its notifications were delivered or gave up, so a
//! crash during delivery sends it again after the restart: delivery is
//! at-least-once.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::event::Occurrence;

/// How far behind the newest handled occurrence an unseen one is still
/// handled.
pub const REORDER_WINDOW: Duration = Duration::from_secs(5 * 60);

/// The persisted part of a [`Cursor`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CursorState {
    /// Occurrences older than this are never handled.
    pub floor: Option<Timestamp>,
    /// Handled occurrences at or after the floor.
    #[serde(default)]
    pub done: BTreeSet<Occurrence>,
}

/// The high-water mark of handled Event occurrences (module docs).
#[derive(Clone, Debug)]
pub struct Cursor {
    state: CursorState,
    in_flight: HashSet<Occurrence>,
}

impl Cursor {
    /// A cursor resuming from `state`; a state without a floor (first start)
    /// gets `now` as floor.
    pub fn new(mut state: CursorState, now: Timestamp) -> Self {
        state.floor.get_or_insert(now);
        Self {
            state,
            in_flight: HashSet::new(),
        }
    }

    /// Whether `occurrence` must be handled; if so it is now in flight and
    /// the caller must call [`Cursor::finish`] once it is handled.
    pub fn begin(&mut self, occurrence: &Occurrence) -> bool {
        let fresh = self
            .state
            .floor
            .is_none_or(|floor| occurrence.time >= floor)
            && !self.state.done.contains(occurrence)
            && !self.in_flight.contains(occurrence);
        if fresh {
            self.in_flight.insert(occurrence.clone());
        }
        fresh
    }

    /// Records `occurrence` as handled and moves the floor up behind the
    /// newest handled occurrence.
    pub fn finish(&mut self, occurrence: Occurrence) {
        self.in_flight.remove(&occurrence);
        self.state.done.insert(occurrence);
        let newest = self.state.done.last().map(|o| o.time);
        let window = SignedDuration::try_from(REORDER_WINDOW).unwrap_or(SignedDuration::ZERO);
        if let Some(newest) = newest {
            let trailing = newest - window;
            if self.state.floor.is_none_or(|floor| trailing > floor) {
                self.state.floor = Some(trailing);
            }
        }
        if let Some(floor) = self.state.floor {
            self.state.done.retain(|o| o.time >= floor);
        }
    }

    /// The state to persist.
    pub fn state(&self) -> &CursorState {
        &self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn occ(seconds: i64, uid: &str) -> Occurrence {
        Occurrence {
            time: at(seconds),
            uid: uid.to_owned(),
        }
    }

    #[test]
    fn first_start_ignores_the_past() {
        let mut cursor = Cursor::new(CursorState::default(), at(1000));
        assert!(!cursor.begin(&occ(999, "old")));
        assert!(cursor.begin(&occ(1000, "now")));
        assert!(cursor.begin(&occ(1001, "new")));
    }

    #[test]
    fn each_occurrence_is_handled_once() {
        let mut cursor = Cursor::new(CursorState::default(), at(1000));
        let event = occ(1001, "a");
        assert!(cursor.begin(&event));
        assert!(!cursor.begin(&event), "in flight");
        cursor.finish(event.clone());
        assert!(!cursor.begin(&event), "done");
        assert!(cursor.begin(&occ(1002, "a")), "a repeat of the same Event");
    }

    #[test]
    fn restart_resumes_without_resending_or_losing() {
        let mut before = Cursor::new(CursorState::default(), at(1000));
        for (t, uid) in [(1010, "a"), (1020, "b")] {
            assert!(before.begin(&occ(t, uid)));
            before.finish(occ(t, uid));
        }
        let in_flight = occ(1030, "c");
        assert!(before.begin(&in_flight));
        let persisted = before.state().clone();

        let mut after = Cursor::new(persisted, at(5000));
        assert!(!after.begin(&occ(1010, "a")), "handled before the restart");
        assert!(!after.begin(&occ(1020, "b")), "handled before the restart");
        assert!(after.begin(&in_flight), "was in flight at the crash");
        assert!(after.begin(&occ(3000, "d")), "arrived while down");
    }

    #[test]
    fn late_arrivals_within_the_window_are_handled() {
        let mut cursor = Cursor::new(CursorState::default(), at(0));
        cursor.begin(&occ(1000, "new"));
        cursor.finish(occ(1000, "new"));
        assert!(cursor.begin(&occ(900, "late")));
        assert!(!cursor.begin(&occ(600, "too late")));
        assert_eq!(cursor.state().floor, Some(at(700)));
    }
}
