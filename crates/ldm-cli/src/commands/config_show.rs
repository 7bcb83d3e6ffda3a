//! `ldm config show CONFIG`: the fully resolved config, as the run would use it.

use crate::cli::ConfigArgs;
use crate::experiment::Experiment;

pub fn run(args: &ConfigArgs) -> anyhow::Result<()> {
    let loaded = Experiment::load(&args.config, &args.sets)?;
    let files: Vec<String> = loaded
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    println!("# resolved from: {}", files.join(" <- "));
    for s in &args.sets {
        println!("# --set {s}");
    }
    print!("{}", loaded.value.to_toml());
    Ok(())
}
