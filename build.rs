fn main() {
    println!("cargo:rerun-if-changed=src/types/long_double.c");
    cc::Build::new()
        .file("src/types/long_double.c")
        .warnings(true)
        .compile("redrock_long_double");

    // The git revision for INFO and the build-info metric; "unknown" when
    // built outside a git checkout (a container build context, a tarball).
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let revision = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=REDROCK_GIT_REVISION={revision}");
}
