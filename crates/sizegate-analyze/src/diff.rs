//! The diff of two reports: per section, unit and symbol, plus the likely
//! causes (toolchain, build settings, dependency versions).

use serde::{Deserialize, Serialize};

use crate::report::{Report, Sizes};

/// The comparison of an old and a new [`Report`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportDiff {
    /// Same as [`crate::SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The old side.
    pub old: DiffSide,
    /// The new side.
    pub new: DiffSide,
    /// Section changes, largest absolute delta first (unchanged ones omitted).
    pub sections: Vec<Change>,
    /// Unit (crate / package) changes, largest absolute delta first.
    pub units: Vec<Change>,
    /// Symbol changes, largest absolute delta first.
    pub symbols: Vec<Change>,
    /// True when a side's symbol list was truncated, so symbol changes are partial.
    pub symbols_partial: bool,
    /// Likely causes: toolchain, build setting and dependency changes.
    pub causes: Vec<Cause>,
}

/// One side of a diff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffSide {
    /// File name.
    pub name: String,
    /// sha256 of the file.
    pub sha256: String,
    /// Its sizes.
    pub sizes: Sizes,
}

/// How one named thing changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Section, unit or (normalized, demangled) symbol name.
    pub name: String,
    /// For symbols: the unit it belongs to (new side, else old).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Size before (0 when added).
    pub old: u64,
    /// Size after (0 when removed).
    pub new: u64,
    /// `new - old`.
    pub delta: i64,
    /// What happened.
    pub status: ChangeStatus,
}

/// What happened to a section, unit or symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeStatus {
    /// Only in the new side.
    Added,
    /// Only in the old side.
    Removed,
    /// Bigger in the new side.
    Grown,
    /// Smaller in the new side.
    Shrunk,
}

/// A likely cause of a size change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    /// `toolchain`, `build_setting`, `dependency`, `format`, `stripped`.
    pub kind: String,
    /// What changed: `rustc`, `go`, `-ldflags`, `golang.org/x/sys`, ...
    pub subject: String,
    /// Old value (None when it appeared).
    pub old: Option<String>,
    /// New value (None when it disappeared).
    pub new: Option<String>,
}

impl ReportDiff {
    /// Delta of one headline metric.
    pub fn size_delta(&self, metric: crate::report::Metric) -> i64 {
        self.new.sizes.get(metric) as i64 - self.old.sizes.get(metric) as i64
    }
}

/// Compare two reports. See the module documentation.
pub fn diff(old: &Report, new: &Report) -> ReportDiff {
    let _ = (old, new);
    unimplemented!("diff is being written")
}
