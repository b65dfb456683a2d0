//! The programs command agents may run, pinned when the server starts.
//!
//! The operator's `allow_exec` list names paths, and a path is only a name: a symlink on it can
//! point at a shell, and a file missing at start can be created later by whoever can write its
//! directory. So each entry is resolved once, at start, to its canonical path and opened; runs
//! execute that open file (through `/proc/self/fd`), never the name again, so what runs is the
//! file that was checked. An entry is refused, and the server does not start, when it is
//! missing, not a regular executable file, or when the file or a directory above it can be
//! written by anyone but root and the server's own user. Shells, interpreters and `env` are
//! allowed (an operator may mean it) but named loudly at start: whoever may create a command
//! agent on one of them can run anything as the server's user.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why an `allow_exec` entry cannot be pinned.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("allow_exec entry {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("allow_exec entry {path} ({canonical}) is not an executable regular file")]
    NotExecutable { path: PathBuf, canonical: PathBuf },
    #[error("allow_exec entry {path}: {what} {writable} can be written by other users (mode {mode:o}, owner {owner}); fix its permissions or leave it off the list")]
    Writable {
        path: PathBuf,
        what: &'static str,
        writable: PathBuf,
        mode: u32,
        owner: u32,
    },
}

/// One allowed program, held open.
#[derive(Debug)]
pub struct Pinned {
    /// The path the operator listed, as agent specs name it.
    pub listed: PathBuf,
    /// Where it resolved at start.
    pub canonical: PathBuf,
    file: File,
}

impl Pinned {
    /// The path that executes the pinned file itself, whatever its name points at now.
    pub fn exec_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
    }

    /// The descriptor a child must keep across `exec` for a script's interpreter to read it.
    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

/// The pinned `allow_exec` list.
#[derive(Debug, Default)]
pub struct AllowedPrograms {
    entries: Vec<Pinned>,
}

/// Program names that run other programs as they are told: a shell, an interpreter, `env` and
/// its kind. Matched on the file name after any version suffix (`python3.11` is `python`).
const RUNS_ANYTHING: [&str; 27] = [
    "sh", "bash", "dash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox", "env", "python",
    "perl", "ruby", "node", "nodejs", "php", "lua", "tclsh", "wish", "pwsh", "awk", "gawk", "mawk",
    "xargs", "sudo", "nohup",
];

impl AllowedPrograms {
    /// Resolve, check and open every entry of `list`.
    pub fn pin(list: &[PathBuf]) -> Result<Self, PinError> {
        let entries = list.iter().map(|p| pin_one(p)).collect::<Result<_, _>>()?;
        Ok(Self { entries })
    }

    /// The pinned program an agent spec's `program` names: the listed path or where it
    /// resolved.
    pub fn find(&self, program: &Path) -> Option<&Pinned> {
        self.entries
            .iter()
            .find(|p| p.listed == program || p.canonical == program)
    }

    /// The entries that run whatever they are told to, with what they resolved to.
    pub fn runs_anything(&self) -> impl Iterator<Item = &Pinned> {
        self.entries.iter().filter(|p| runs_anything(&p.canonical))
    }
}

fn runs_anything(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-');
    RUNS_ANYTHING.contains(&stem)
}

fn pin_one(path: &Path) -> Result<Pinned, PinError> {
    let unreadable = |source| PinError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let canonical = std::fs::canonicalize(path).map_err(unreadable)?;
    let file = File::open(&canonical).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(PinError::NotExecutable {
            path: path.to_owned(),
            canonical,
        });
    }
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    let me = unsafe { libc::geteuid() };
    let trusted = |owner: u32| owner == 0 || owner == me;
    let check = |what, at: &Path, meta: &std::fs::Metadata| {
        let mode = meta.permissions().mode();
        // A sticky directory (such as /tmp) lets others add entries but not replace ours.
        let sticky = what == "directory" && mode & 0o1000 != 0;
        if !trusted(meta.uid()) || (mode & 0o022 != 0 && !sticky) {
            return Err(PinError::Writable {
                path: path.to_owned(),
                what,
                writable: at.to_owned(),
                mode: mode & 0o7777,
                owner: meta.uid(),
            });
        }
        Ok(())
    };
    check("the program", &canonical, &meta)?;
    for dir in canonical.ancestors().skip(1) {
        let meta = std::fs::metadata(dir).map_err(unreadable)?;
        check("directory", dir, &meta)?;
    }
    Ok(Pinned {
        listed: path.to_owned(),
        canonical,
        file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shells_interpreters_and_env_are_recognised_by_name() {
        for path in [
            "/bin/sh",
            "/usr/bin/env",
            "/usr/bin/python3.11",
            "/usr/bin/perl5.36",
        ] {
            assert!(runs_anything(Path::new(path)), "{path}");
        }
        for path in [
            "/bin/echo",
            "/usr/bin/true",
            "/opt/envoy",
            "/usr/bin/shasum",
        ] {
            assert!(!runs_anything(Path::new(path)), "{path}");
        }
    }
}
