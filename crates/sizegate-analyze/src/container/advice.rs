//! Advice for a container image, each with the bytes it would save
//! (uncompressed bytes of the image).

use crate::human;
use crate::report::{Advice, Format, ImageFile, Unit, UnitKind};

/// Package caches that a `RUN` can clean in the same layer.
const CACHES: [&str; 4] = [
    "/var/lib/apt/lists/",
    "/var/cache/apt/",
    "/var/cache/apk/",
    "/var/cache/yum/",
];
/// Smallest saving worth a piece of advice for one binary.
const MIN_BINARY_SAVING: u64 = 64 * 1024;
/// Most binaries named in advice.
const MAX_BINARIES: usize = 5;

pub(crate) struct Facts<'a> {
    pub files: &'a [ImageFile],
    pub units: &'a [Unit],
    pub hidden: u64,
    pub hidden_files: u64,
    pub duplicate: u64,
    pub uncompressed: u64,
}

fn advice(id: &str, saving: u64, message: String) -> Advice {
    Advice {
        id: id.to_string(),
        saving,
        message,
    }
}

pub(crate) fn advise(facts: &Facts<'_>) -> Vec<Advice> {
    let mut out = Vec::new();
    if facts.hidden > 0 {
        out.push(advice(
            "image-hidden-files",
            facts.hidden,
            format!(
                "{} file(s) written in one layer are deleted or overwritten in a later one, \
                 yet still shipped: create and remove them in the same `RUN` (or a build \
                 stage): saves {}.",
                facts.hidden_files,
                human::size(facts.hidden)
            ),
        ));
    }
    if facts.duplicate > 0 {
        out.push(advice(
            "image-duplicate-files",
            facts.duplicate,
            format!(
                "Files identical to files of an earlier layer are copied again: saves {}.",
                human::size(facts.duplicate)
            ),
        ));
    }
    out.extend(package_cache(facts));
    out.extend(unstripped_binaries(facts));
    out.extend(static_on_base(facts));
    out.sort_by(|a, b| b.saving.cmp(&a.saving).then_with(|| a.id.cmp(&b.id)));
    out
}

/// Package manager caches left in the image.
fn package_cache(facts: &Facts<'_>) -> Option<Advice> {
    let cache: u64 = facts
        .files
        .iter()
        .filter(|f| CACHES.iter().any(|c| f.path.starts_with(c)))
        .map(|f| f.size)
        .sum();
    (cache > 0).then(|| {
        advice(
            "image-package-cache",
            cache,
            format!(
                "Package manager caches ship in the image: end the install `RUN` with \
                 `rm -rf /var/lib/apt/lists/*` (or use `apk add --no-cache`): saves {}.",
                human::size(cache)
            ),
        )
    })
}

/// The binaries that stripping would shrink most.
fn unstripped_binaries(facts: &Facts<'_>) -> Vec<Advice> {
    let mut unstripped: Vec<(&ImageFile, u64)> = facts
        .files
        .iter()
        .filter_map(|f| {
            let r = f.report.as_deref()?;
            let saving = r.sizes.file.saturating_sub(r.sizes.shipped);
            (saving >= MIN_BINARY_SAVING).then_some((f, saving))
        })
        .collect();
    unstripped.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.path.cmp(&b.0.path)));
    unstripped
        .into_iter()
        .take(MAX_BINARIES)
        .map(|(file, saving)| {
            advice(
                "image-unstripped-binary",
                saving,
                format!(
                    "`{}` carries symbols or debug info: strip it in the build stage: saves {}.",
                    file.path,
                    human::size(saving)
                ),
            )
        })
        .collect()
}

/// A static binary on a base with OS packages: everything else could go.
fn static_on_base(facts: &Facts<'_>) -> Option<Advice> {
    let has_packages = facts.units.iter().any(|u| u.kind == UnitKind::Package);
    let statics: Vec<&ImageFile> = facts
        .files
        .iter()
        .filter(|f| {
            f.report.as_deref().is_some_and(|r| {
                r.format == Format::Elf
                    && !r
                        .sections
                        .iter()
                        .any(|s| s.name == ".interp" || s.name == ".dynamic")
            })
        })
        .collect();
    if !has_packages || statics.is_empty() {
        return None;
    }
    let kept: u64 = statics.iter().map(|f| f.size).sum();
    let saving = facts.uncompressed.saturating_sub(kept);
    (saving > 0).then(|| {
        advice(
            "image-static-on-base",
            saving,
            format!(
                "`{}` is statically linked, yet the image carries a base with OS packages: \
                 copy it into `FROM scratch` (or a distroless static base): saves up to {}.",
                statics[0].path,
                human::size(saving)
            ),
        )
    })
}
