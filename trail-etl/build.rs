//! Links gperftools' tcmalloc, statically, when the `tcmalloc` feature is on
//! (see `src/alloc.rs`); nothing otherwise.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "tcmalloc")]
    tcmalloc();
}

#[cfg(feature = "tcmalloc")]
fn tcmalloc() {
    println!("cargo:rerun-if-env-changed=TRAIL_TCMALLOC_LIB_DIR");
    // Where libtcmalloc_minimal.a is: TRAIL_TCMALLOC_LIB_DIR, else the
    // library's `libdir` as pkg-config knows it.
    let dir = match std::env::var("TRAIL_TCMALLOC_LIB_DIR") {
        Ok(dir) => dir,
        Err(_) => match pkg_config::get_variable("libtcmalloc_minimal", "libdir") {
            Ok(dir) => dir,
            Err(e) => panic!(
                "the `tcmalloc` feature needs gperftools' libtcmalloc_minimal \
                 (Debian/Ubuntu: apt-get install libgoogle-perftools-dev; \
                 Fedora: dnf install gperftools-devel; macOS: brew install gperftools), \
                 or TRAIL_TCMALLOC_LIB_DIR set to the folder holding libtcmalloc_minimal.a: {e}"
            ),
        },
    };
    if !std::path::Path::new(&dir)
        .join("libtcmalloc_minimal.a")
        .exists()
    {
        panic!("the `tcmalloc` feature links libtcmalloc_minimal.a statically; it is not in {dir}");
    }
    println!("cargo:rustc-link-search=native={dir}");
    println!("cargo:rustc-link-lib=static=tcmalloc_minimal");
    // tcmalloc is C++.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos") {
        println!("cargo:rustc-link-lib=dylib=c++");
    } else {
        println!("cargo:rustc-link-lib=dylib=stdc++");
    }
}
