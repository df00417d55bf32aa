//! Effective origin: what a record's content ultimately comes from, as a set of root kinds.
//!
//! A record's [`Roots`] after an event are:
//! - GENERATED: synthetic; CAPTURED: real; ATTESTED: the origin the reviewer declared (a
//!   reclassification replaces what lineage said);
//! - DERIVED and SYNCED: the union of the parents' roots, each parent taken as of its pinned entry
//!   or, unpinned, as of the child event (its latest state when the child was logged). Parents
//!   precede children in the log, so this never loops;
//! - UPDATED, QUARANTINED, PURGED: unchanged; an UPDATED that is the first event of a record
//!   (a record first seen without an origin event) gives an unknown root.
//!
//! [`Roots::effective`] classifies a set: UNKNOWN if it holds an unknown root, else MIXED if
//! synthetic and real, else the one kind. Synthetic taint is [`Roots::has_synthetic`], which
//! ignores the unknown kind: a record with a synthetic and an unknown root is still tainted.

use crate::proto::{Action, EffectiveOrigin, Origin};

/// A set of root kinds, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Roots(u8);

impl Roots {
    pub const NONE: Roots = Roots(0);
    pub const SYNTHETIC: Roots = Roots(1);
    pub const REAL: Roots = Roots(2);
    pub const UNKNOWN: Roots = Roots(4);

    pub fn bits(self) -> u8 {
        self.0
    }

    /// From stored bits; bits outside the three kinds are refused.
    pub fn from_bits(bits: u8) -> Option<Roots> {
        (bits & !7 == 0).then_some(Roots(bits))
    }

    pub fn union(self, other: Roots) -> Roots {
        Roots(self.0 | other.0)
    }

    pub fn has_synthetic(self) -> bool {
        self.0 & Self::SYNTHETIC.0 != 0
    }

    pub fn effective(self) -> EffectiveOrigin {
        if self.0 & Self::UNKNOWN.0 != 0 || self.0 == 0 {
            EffectiveOrigin::Unknown
        } else if self.0 == Self::SYNTHETIC.0 | Self::REAL.0 {
            EffectiveOrigin::Mixed
        } else if self.0 == Self::SYNTHETIC.0 {
            EffectiveOrigin::Synthetic
        } else {
            EffectiveOrigin::Real
        }
    }

    /// The root kind a declared origin stands for.
    pub fn declared(origin: Origin) -> Roots {
        match origin {
            Origin::Synthetic => Self::SYNTHETIC,
            Origin::Real => Self::REAL,
            Origin::Unspecified => Self::UNKNOWN,
        }
    }
}

/// A record's roots after an event: `previous` is the record's roots before it (None when this
/// is its first event), `parents` the roots of each parent as the event sees them.
pub fn after_event(
    action: Action,
    declared: Origin,
    previous: Option<Roots>,
    parents: impl IntoIterator<Item = Roots>,
) -> Roots {
    match action {
        Action::Generated => Roots::SYNTHETIC,
        Action::Captured => Roots::REAL,
        Action::Attested => Roots::declared(declared),
        Action::Derived | Action::Synced => parents.into_iter().fold(Roots::NONE, Roots::union),
        Action::Updated | Action::Quarantined | Action::Purged | Action::Unspecified => {
            previous.unwrap_or(Roots::UNKNOWN)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(Roots::SYNTHETIC.effective(), EffectiveOrigin::Synthetic);
        assert_eq!(Roots::REAL.effective(), EffectiveOrigin::Real);
        assert_eq!(
            Roots::SYNTHETIC.union(Roots::REAL).effective(),
            EffectiveOrigin::Mixed
        );
        let tainted_unknown = Roots::SYNTHETIC.union(Roots::UNKNOWN);
        assert_eq!(tainted_unknown.effective(), EffectiveOrigin::Unknown);
        assert!(tainted_unknown.has_synthetic());
        assert!(!Roots::REAL.union(Roots::UNKNOWN).has_synthetic());
        assert_eq!(Roots::from_bits(8), None);
    }

    #[test]
    fn events_move_roots() {
        let mixed = after_event(
            Action::Derived,
            Origin::Unspecified,
            None,
            [Roots::SYNTHETIC, Roots::REAL],
        );
        assert_eq!(mixed.effective(), EffectiveOrigin::Mixed);
        assert_eq!(
            after_event(Action::Attested, Origin::Real, Some(mixed), []),
            Roots::REAL
        );
        assert_eq!(
            after_event(Action::Quarantined, Origin::Unspecified, Some(mixed), []),
            mixed
        );
        assert_eq!(
            after_event(Action::Updated, Origin::Unspecified, None, []),
            Roots::UNKNOWN
        );
    }
}
