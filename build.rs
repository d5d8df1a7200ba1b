//! Puts the git commit in `lanceur --version`, so a support request can say exactly which build
//! runs. A build outside a git checkout (a source tarball, `cargo install`) says "unknown commit".

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .is_some_and(|output| !output.stdout.is_empty());
    let described = match commit {
        Some(commit) if dirty => format!("{commit}, modified"),
        Some(commit) => commit,
        None => "unknown commit".to_string(),
    };
    println!(
        "cargo:rustc-env=LANCEUR_VERSION={} ({described})",
        env!("CARGO_PKG_VERSION")
    );
    // Rebuild when HEAD moves or the index changes (a commit, a checkout). In a worktree `.git`
    // is a file naming the real folder, so ask git where it is.
    let git_dir = Command::new("git")
        .args(["rev-parse", "--absolute-git-dir"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| std::path::PathBuf::from(text.trim()));
    if let Some(dir) = git_dir {
        for file in ["HEAD", "index"] {
            let path = dir.join(file);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
}
