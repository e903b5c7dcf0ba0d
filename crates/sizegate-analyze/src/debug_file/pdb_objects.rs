//! The object files a PE was linked from, as its PDB's DBI stream lists
//! them: the module list (each compiland's object file, and the library it
//! was taken from) and the section contributions (which module's bytes lie
//! at each address). C and global-scope C++ code names no unit of its own
//! (`[C]`): with a PDB it is charged to the library or object file that
//! holds it (`libcmt.lib`, `conpty.obj`). Code the symbols leave unnamed
//! (functions compiled without debug information whose public symbol the
//! linker dropped, or the tail after a procedure's recorded length) gets a
//! symbol named after its object file, `<code of memcpy.obj>`.

use pdb::FallibleIterator;

/// Most section contributions read (a PDB lists one per function with
/// `/Gy`: a large program has some 10^5).
const MAX_CONTRIBUTIONS: usize = 1 << 22;

/// Which object file's bytes lie at each relative virtual address.
#[derive(Debug, Default)]
pub(crate) struct ObjectMap {
    /// Per module index: its names, `None` for the linker's own (`* Linker *`).
    modules: Vec<Option<ObjectName>>,
    /// Sorted by `rva`, disjoint.
    contributions: Vec<Contribution>,
}

#[derive(Debug)]
struct ObjectName {
    /// The unit: the library's file name for a library member, else the
    /// object file's.
    unit: String,
    /// The object file's name.
    object: String,
}

#[derive(Debug, Clone, Copy)]
struct Contribution {
    rva: u32,
    end: u32,
    module: u32,
    code: bool,
}

/// A file name without its directories.
fn base_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// The unit of a module: `module_name` is its object file, `object_file`
/// the library it came from (or the same object file).
fn object_name(module_name: &str, object_file: &str) -> Option<ObjectName> {
    let object = base_name(module_name);
    if object.is_empty() || module_name.starts_with('*') {
        return None;
    }
    // Windows file names are case-insensitive, and the toolchain spells
    // its libraries both ways (`LIBCMT.lib`, `libcmt.lib`).
    let library = base_name(object_file).to_ascii_lowercase();
    let unit =
        if object_file != module_name && (library.ends_with(".lib") || library.ends_with(".a")) {
            library
        } else {
            object.to_string()
        };
    Some(ObjectName {
        unit,
        object: object.to_string(),
    })
}

impl ObjectMap {
    /// The modules and section contributions of the PDB's DBI stream;
    /// what could be read of them when the stream is malformed.
    pub(super) fn read(
        dbi: &pdb::DebugInformation<'_>,
        address_map: &pdb::AddressMap<'_>,
    ) -> ObjectMap {
        let mut map = ObjectMap::default();
        if let Ok(mut modules) = dbi.modules() {
            while let Ok(Some(module)) = modules.next() {
                if map.modules.len() >= MAX_CONTRIBUTIONS {
                    break;
                }
                let name = module.module_name();
                map.modules
                    .push(object_name(&name, &module.object_file_name()));
            }
        }
        let Ok(mut list) = dbi.section_contributions() else {
            return map;
        };
        while let Ok(Some(c)) = list.next() {
            if map.contributions.len() >= MAX_CONTRIBUTIONS {
                break;
            }
            let (Some(rva), Ok(module)) = (c.offset.to_rva(address_map), u32::try_from(c.module))
            else {
                continue;
            };
            if c.size > 0 && map.modules.get(c.module).is_some_and(Option::is_some) {
                map.contributions.push(Contribution {
                    rva: rva.0,
                    end: rva.0.saturating_add(c.size),
                    module,
                    code: c.characteristics.execute(),
                });
            }
        }
        map.contributions.sort_unstable_by_key(|c| c.rva);
        let mut end = 0;
        map.contributions.retain_mut(|c| {
            c.rva = c.rva.max(end);
            end = end.max(c.end);
            c.end > c.rva
        });
        map
    }

    fn name(&self, c: &Contribution) -> Option<&ObjectName> {
        self.modules.get(c.module as usize)?.as_ref()
    }

    /// The unit (library or object file) whose bytes lie at `rva`.
    pub(super) fn unit_at(&self, rva: u32) -> Option<&str> {
        let i = self
            .contributions
            .partition_point(|c| c.rva <= rva)
            .checked_sub(1)?;
        let c = self.contributions.get(i).filter(|c| rva < c.end)?;
        self.name(c).map(|n| n.unit.as_str())
    }

    /// Symbols for the code that `named` (`(rva, size)` sorted by rva)
    /// leaves unnamed in each code contribution: `(rva, size, name)`.
    pub(super) fn fillers(&self, named: &[(u32, u32)]) -> Vec<(u32, u32, String)> {
        let mut out = Vec::new();
        for c in self.contributions.iter().filter(|c| c.code) {
            let Some(object) = self.name(c).map(|n| &n.object) else {
                continue;
            };
            let mut add = |from: u32, to: u32| {
                if to > from {
                    out.push((from, to - from, format!("<code of {object}>")));
                }
            };
            // A symbol starting before `c` may reach into it.
            let first = named.partition_point(|n| n.0 < c.rva);
            let before = first
                .checked_sub(1)
                .and_then(|i| named.get(i))
                .map_or(0, |n| n.0.saturating_add(n.1));
            let mut cursor = c.rva.max(before);
            for &(rva, size) in named
                .get(first..)
                .unwrap_or(&[])
                .iter()
                .take_while(|n| n.0 < c.end)
            {
                add(cursor, rva);
                cursor = cursor.max(rva.saturating_add(size));
            }
            add(cursor, c.end);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(contributions: &[(u32, u32, u32, bool)]) -> ObjectMap {
        ObjectMap {
            modules: vec![
                object_name("d:\\obj\\memcpy.obj", "C:\\VC\\lib\\libcmt.lib"),
                object_name("D:\\src\\build\\conpty.obj", "D:\\src\\build\\conpty.obj"),
                object_name("* Linker *", ""),
            ],
            contributions: contributions
                .iter()
                .map(|&(rva, end, module, code)| Contribution {
                    rva,
                    end,
                    module,
                    code,
                })
                .collect(),
        }
    }

    #[test]
    fn modules_are_named_by_library_or_object() {
        let m = map(&[(0x1000, 0x1100, 0, true), (0x1100, 0x1200, 1, true)]);
        assert_eq!(m.unit_at(0x1000), Some("libcmt.lib"));
        assert_eq!(m.unit_at(0x10ff), Some("libcmt.lib"));
        assert_eq!(m.unit_at(0x1100), Some("conpty.obj"));
        assert_eq!(m.unit_at(0x1200), None);
        assert_eq!(m.unit_at(0xfff), None);
        assert!(object_name("* Linker *", "").is_none());
    }

    #[test]
    fn fillers_cover_only_unnamed_code() {
        let m = map(&[
            (0x1000, 0x1100, 0, true),
            (0x1100, 0x1200, 1, true),
            (0x1200, 0x1300, 1, true),
            (0x2000, 0x2100, 1, false),
        ]);
        // A procedure of 0x80 bytes at 0x1000, one of 0x80 at 0x1180;
        // nothing in 0x1200..0x1300 nor in data.
        let named = [(0x1000, 0x80), (0x1180, 0x80)];
        let fillers = m.fillers(&named);
        assert_eq!(
            fillers,
            vec![
                (0x1080, 0x80, "<code of memcpy.obj>".to_string()),
                (0x1100, 0x80, "<code of conpty.obj>".to_string()),
                (0x1200, 0x100, "<code of conpty.obj>".to_string()),
            ]
        );
    }
}
