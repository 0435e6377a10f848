//! The `tether` command line: argument parsing and output, nothing else.
//!
//! Exit codes: 0 success; 1 the topology is invalid or the command failed;
//! 2 the command line itself is wrong (from clap), or, for `plan --detailed-exitcode`,
//! the plan has changes.

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
    /// Read live AWS and show the changes that would make it match the topology.
    Plan(PlanArgs),
}

#[derive(clap::Args)]
struct PlanArgs {
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    format: PlanFormat,
    /// Save the plan (with a fingerprint of everything observed) for `apply`.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    detailed_exitcode: bool,
    /// Plan only this resource address and what it depends on (repeatable).
    #[arg(long = "target", value_name = "ADDRESS")]
    targets: Vec<String>,
    /// Print the AWS API calls made, by service and operation.
    #[arg(long)]
    stats: bool,
    /// No colour, even on a terminal (NO_COLOR is honoured too).
    #[arg(long)]
    no_color: bool,
    /// How many AWS reads may run at once.
    #[arg(long, default_value_t = tether::reconcile::DEFAULT_PARALLELISM)]
    parallelism: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum PlanFormat {
    Text,
    Json,
    Markdown,
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
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
        (Command::Plan(args), Ok(c)) => plan(c, args, &mut stdout),
        (Command::Graph { format }, Ok(c)) => {
            let graph = tether::graph::Graph::build(&c.expansion)
                .map_err(|p| anyhow::anyhow!("{}", c.source.diagnostics(p)))?;
            let text = match format {
                GraphFormat::Dot => graph.dot(),
                GraphFormat::Mermaid => graph.mermaid(),
            };
            stdout.write_all(text.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn plan(
    checked: tether::Checked,
    args: PlanArgs,
    stdout: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let request = tether::reconcile::PlanRequest {
        targets: args
            .targets
            .iter()
            .map(|t| tether::expand::resource::Address(t.clone()))
            .collect(),
        parallelism: args.parallelism,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (plan, stats) = runtime.block_on(tether::reconcile::plan(&checked, &request))?;
    let color = !args.no_color
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal();
    match args.format {
        PlanFormat::Text => {
            stdout.write_all(tether::plan::render::text(&plan, color).as_bytes())?
        }
        PlanFormat::Markdown => {
            stdout.write_all(tether::plan::render::markdown(&plan).as_bytes())?
        }
        PlanFormat::Json => {
            serde_json::to_writer_pretty(&mut *stdout, &plan)?;
            writeln!(stdout)?;
        }
    }
    if let Some(path) = &args.out {
        let text = serde_json::to_string_pretty(&plan)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("writing the plan to {}", path.display()))?;
        eprintln!("Saved the plan to {}.", path.display());
    }
    if args.stats {
        eprint!("{}", stats.render());
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
