//! The `provledger` command line.

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use clap::{Parser, Subcommand};
use provledger::merkle::{Blake3, TreeHasher, verify_consistency, verify_inclusion};
use provledger::note::NoteSigner;
use provledger::store::{LogStore, audit};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "provledger: an append-only, verifiable provenance ledger"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Walk through the log on a temporary data directory: append, checkpoint, prove, verify,
    /// audit — printing each step.
    Demo,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Demo => demo(),
    }
}

fn demo() -> Result<()> {
    let dir = tempfile::tempdir().context("creating a temporary data directory")?;
    let origin = "demo.provledger/log";
    let signer = NoteSigner::generate(origin)?;
    println!(
        "1. Created a log in {} with checkpoint key",
        dir.path().display()
    );
    println!("   {}", signer.verifier().to_vkey());
    let store = LogStore::<Blake3>::create(dir.path(), origin, signer)?;

    let first: Vec<String> = (0..3)
        .map(|i| format!("Lead/00Q{i:015} generated synthetically by generator demo-gen, sandbox"))
        .collect();
    let early = store.append(&first)?;
    println!(
        "\n2. Appended {} entries as one durable batch; checkpoint:",
        first.len()
    );
    print!("{}", indent(&early.checkpoint.note));

    let second: Vec<String> = (0..4)
        .map(|i| format!("Contact/003{i:015} captured from a real web form, production"))
        .collect();
    let later = store.append(&second)?;
    println!("\n3. Appended {} more; checkpoint:", second.len());
    print!("{}", indent(&later.checkpoint.note));

    let (old, new) = (&early.checkpoint.checkpoint, &later.checkpoint.checkpoint);
    let index = later.first_index + 1;
    let leaf = &store.leaves(index, 1)?[0];
    let proof = store.inclusion_proof(index, new.size)?;
    verify_inclusion::<Blake3>(index, new.size, &Blake3::hash_leaf(leaf), &proof, &new.root)?;
    println!(
        "\n4. Entry {index} ({:?}) is in the tree of size {}: inclusion proof of {} hashes verified",
        String::from_utf8_lossy(leaf),
        new.size,
        proof.len()
    );
    for h in &proof {
        println!("   {}", B64.encode(h));
    }

    let proof = store.consistency_proof(old.size, new.size)?;
    verify_consistency::<Blake3>(old.size, new.size, &old.root, &new.root, &proof)?;
    println!(
        "\n5. The tree of size {} is a prefix of the tree of size {}: consistency proof of {} hashes verified",
        old.size,
        new.size,
        proof.len()
    );

    let report = audit(&store)?;
    if !report.is_clean() {
        bail!("audit found problems: {:?}", report.problems);
    }
    println!(
        "\n6. Audit: recomputed {} leaves and checked {} signed checkpoints; no problems",
        report.leaves, report.checkpoints
    );
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("   {l}\n")).collect()
}
