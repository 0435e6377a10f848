//! The `tether` command line: argument parsing and output, nothing else.
//!
//! Exit codes: 0 success; 1 the topology is invalid or the command failed;
//! 2 the command line itself is wrong (from clap).

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "tether",
    version,
    about = "Declarative reconciler for cross-account AWS delivery plumbing"
)]
struct Cli {
    /// The topology file.
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        default_value = "topology.yaml"
    )]
    file: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the topology offline and report every problem at once.
    Validate {
        #[arg(long, value_enum, default_value_t = DiagFormat::Text)]
        format: DiagFormat,
    },
    /// Print every resource the topology implies: roles, policies, buckets, keys, buses,
    /// rules, targets and pipelines.
    Expand {
        #[arg(long, value_enum, default_value_t = DataFormat::Yaml)]
        format: DataFormat,
    },
    /// Print the dependency graph of the derived resources.
    Graph {
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum DiagFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum DataFormat {
    Yaml,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum GraphFormat {
    Dot,
    Mermaid,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let checked = tether::check_file(&cli.file);
    let mut stdout = std::io::stdout().lock();
    match (cli.command, checked) {
        (Command::Validate { format }, result) => match (format, result) {
            (DiagFormat::Text, Ok(c)) => {
                writeln!(
                    stdout,
                    "{}: valid ({} resources)",
                    cli.file.display(),
                    c.expansion.resources.len()
                )?;
                Ok(ExitCode::SUCCESS)
            }
            (DiagFormat::Text, Err(d)) => {
                eprint!("{}", d.render());
                Ok(ExitCode::from(1))
            }
            (DiagFormat::Json, r) => {
                let ok = r.is_ok();
                let d = r.err().unwrap_or_else(|| {
                    tether::diag::Diagnostics::new(cli.file.display().to_string())
                });
                serde_json::to_writer_pretty(&mut stdout, &d)?;
                writeln!(stdout)?;
                Ok(if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                })
            }
        },
        (_, Err(d)) => {
            eprint!("{}", d.render());
            Ok(ExitCode::from(1))
        }
        (Command::Expand { format }, Ok(c)) => {
            match format {
                DataFormat::Yaml => {
                    let text = serde_yaml::to_string(&c.expansion)
                        .context("rendering the expansion as YAML")?;
                    stdout.write_all(text.as_bytes())?;
                }
                DataFormat::Json => {
                    serde_json::to_writer_pretty(&mut stdout, &c.expansion)?;
                    writeln!(stdout)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        (Command::Graph { format }, Ok(c)) => {
            let graph = tether::graph::Graph::build(&c.expansion)
                .map_err(|p| anyhow::anyhow!("{}", c.loaded.diagnostics(p)))?;
            let text = match format {
                GraphFormat::Dot => graph.dot(),
                GraphFormat::Mermaid => graph.mermaid(),
            };
            stdout.write_all(text.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
