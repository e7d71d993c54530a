fn main() {
    println!("cargo:rerun-if-changed=src/types/long_double.c");
    cc::Build::new()
        .file("src/types/long_double.c")
        .warnings(true)
        .compile("redrock_long_double");
}
