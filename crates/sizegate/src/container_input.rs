//! Container images as `analyze` input: a `docker save` archive or an OCI
//! layout packed as tar (told by content: a tar header first, then a
//! `manifest.json` or `index.json` member), or an OCI layout directory.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sizegate_analyze::Report;
use sizegate_analyze::container::{self, ImageOptions, Source, TarSource};

/// Most files of a layout directory we list.
const MAX_DIR_FILES: usize = 100_000;

/// The reports of `path` when it is a container image, `None` when it is
/// not one (a binary or a JSON report).
pub fn image_reports(path: &Path, platform: Option<&str>) -> anyhow::Result<Option<Vec<Report>>> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let options = ImageOptions {
        platform: platform.map(str::to_string),
        ..ImageOptions::default()
    };
    let cannot = || format!("cannot analyze `{}`", path.display());
    if path.is_dir() {
        if !path.join("index.json").is_file() {
            bail!(
                "cannot read `{}`: it is a directory (an OCI image layout holds an index.json)",
                path.display()
            );
        }
        let mut source = DirSource::new(path).with_context(cannot)?;
        let mut reports =
            container::analyze_image(&name, &mut source, &options).with_context(cannot)?;
        // A layout directory has no one file: its index (which names every
        // manifest by digest) stands for it.
        let mut index = File::open(path.join("index.json")).with_context(cannot)?;
        let sha = container::sha256_hex(&mut index).with_context(cannot)?;
        for report in &mut reports {
            report.file.sha256 = sha.clone();
        }
        return Ok(Some(reports));
    }
    let mut head = [0u8; 512];
    let mut file = match File::open(path) {
        Ok(f) => f,
        // Reported by the binary path with its own message.
        Err(_) => return Ok(None),
    };
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(_) => return Ok(None),
        }
    }
    if !container::looks_like_tar(&head[..got]) {
        return Ok(None);
    }
    // The archive's sha256 on a second core while the layers are analyzed.
    let mut hashed = File::open(path).with_context(cannot)?;
    let hashing = std::thread::spawn(move || container::sha256_hex(&mut hashed));
    let file = File::open(path).with_context(cannot)?;
    let mut source = TarSource::new(BufReader::with_capacity(1 << 20, file), &options.limits)
        .with_context(cannot)?;
    let mut reports =
        container::analyze_image(&name, &mut source, &options).with_context(cannot)?;
    let sha = hashing
        .join()
        .map_err(|_| anyhow::anyhow!("hashing `{}` failed", path.display()))?
        .with_context(cannot)?;
    for report in &mut reports {
        report.file.sha256 = sha.clone();
    }
    Ok(Some(reports))
}

/// The files of an OCI layout directory.
struct DirSource {
    root: PathBuf,
    files: HashMap<String, u64>,
    total: u64,
}

impl DirSource {
    fn new(root: &Path) -> anyhow::Result<Self> {
        let mut files = HashMap::new();
        let mut total = 0u64;
        let mut pending = vec![PathBuf::new()];
        while let Some(relative) = pending.pop() {
            for entry in std::fs::read_dir(root.join(&relative))
                .with_context(|| format!("cannot list `{}`", root.join(&relative).display()))?
            {
                let entry = entry?;
                let child = relative.join(entry.file_name());
                let metadata = std::fs::metadata(entry.path())?;
                if metadata.is_dir() {
                    pending.push(child);
                } else if metadata.is_file() {
                    if files.len() >= MAX_DIR_FILES {
                        bail!("more than {MAX_DIR_FILES} files in the layout");
                    }
                    total += metadata.len();
                    let key = child
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("/");
                    files.insert(key, metadata.len());
                }
            }
        }
        Ok(DirSource {
            root: root.to_path_buf(),
            files,
            total,
        })
    }
}

impl Source for DirSource {
    fn size(&self, path: &str) -> Option<u64> {
        self.files.get(path).copied()
    }

    fn open(&mut self, path: &str) -> io::Result<Box<dyn Read + '_>> {
        let size = self
            .files
            .get(path)
            .copied()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, path.to_string()))?;
        let file = File::open(self.root.join(path))?;
        Ok(Box::new(BufReader::with_capacity(1 << 20, file.take(size))))
    }

    fn total_size(&self) -> u64 {
        self.total
    }
}
