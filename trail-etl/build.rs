//! Embeds the views of `sql/views` in the binary (`athena install` needs no
//! checkout), and links gperftools' tcmalloc, statically, when the `tcmalloc`
//! feature is on (see `src/alloc.rs`).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    embed_views();
    #[cfg(feature = "tcmalloc")]
    tcmalloc();
}

/// `$OUT_DIR/views.rs`: `VIEWS`, every `sql/views/*.sql` as (name, text), by name.
fn embed_views() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql/views");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    let mut out = String::from("/// The views of `sql/views`: (name, SQL), by name.\npub const VIEWS: &[(&str, &str)] = &[\n");
    for path in files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        out.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    out.push_str("];\n");
    let target =
        std::path::Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("views.rs");
    std::fs::write(&target, out).unwrap_or_else(|e| panic!("writing {}: {e}", target.display()));
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
