//! Writes the seed corpora to `tools/fuzz/seeds/<target>/<name>` (overwriting seeds of the
//! same name, leaving other files alone). Run after changing a fixture or a seed:
//! `cargo run --release --manifest-path tools/fuzz/Cargo.toml --example seed_corpus`.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let mut total = 0;
    for seed in provledger_fuzz::seeds::all() {
        let dir = root.join(seed.target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(&seed.name), &seed.bytes)?;
        total += seed.bytes.len();
    }
    println!("wrote {} bytes of seeds under {}", total, root.display());
    Ok(())
}
