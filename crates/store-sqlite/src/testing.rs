//! Scratch database files for tests: each in its own temporary directory,
//! removed (with its WAL and shared-memory files) when the test ends.

use std::path::{Path, PathBuf};

/// A temporary directory holding one test's database file.
#[derive(Debug)]
pub struct ScratchFile {
    dir: PathBuf,
}

impl ScratchFile {
    /// A fresh directory under the system's temporary directory.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn new() -> std::io::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("gatehouse-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    /// The database file's path (not created until the store opens it).
    pub fn path(&self) -> PathBuf {
        self.dir.join("gatehouse.db")
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `sqlite://` URL of the database file.
    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path().display())
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
