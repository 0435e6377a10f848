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
    /// Make live AWS match the topology: plan, confirm, execute. With PLANFILE, execute
    /// exactly that saved plan, refusing if anything it observed has changed or if it
    /// asks for anything the topology does not imply.
    Apply(ApplyArgs),
    /// Remove everything the topology owns, in every region it wrote to: plan the
    /// removal, show it, confirm, execute. Protected resources stay (and are listed); KMS
    /// keys are scheduled for deletion. Resources tether does not own are never touched.
    Destroy(RunArgs),
    /// Print a plan saved with `tether plan --out`, in any format. Offline: reads neither
    /// AWS nor the topology file.
    Show(ShowArgs),
    /// Print every declared flow hop by hop (who calls what on which resource, with
    /// which context) and whether AWS would allow each hop, from the topology alone
    /// (desired policies; `plan` also reads what tether does not manage). Exit 1 when a
    /// flow is broken.
    Flows {
        #[arg(long, value_enum, default_value_t = DiagFormat::Text)]
        format: DiagFormat,
        /// No colour, even on a terminal.
        #[arg(long)]
        no_color: bool,
    },
    /// Print a shell completion script (for example `tether completions bash >
    /// ~/.local/share/bash-completion/completions/tether`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(clap::Args)]
struct ShowArgs {
    /// A plan saved with `tether plan --out`.
    planfile: PathBuf,
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    format: PlanFormat,
    /// No colour, even on a terminal (NO_COLOR is honoured too).
    #[arg(long)]
    no_color: bool,
}

#[derive(clap::Args)]
/// What apply and destroy share: confirmation, parallelism, output and retries.
struct RunArgs {
    /// Do not ask for confirmation (for CI). Without a terminal, the command refuses to
    /// run unless this is given.
    #[arg(long)]
    auto_approve: bool,
    /// How many steps (and reads) run at once.
    #[arg(long, default_value_t = tether::reconcile::DEFAULT_PARALLELISM)]
    parallelism: usize,
    /// Print the AWS API calls made, by service and operation: session calls, reads and
    /// writes apart.
    #[arg(long)]
    stats: bool,
    /// No colour, even on a terminal.
    #[arg(long)]
    no_color: bool,
    /// How long to keep retrying IAM propagation errors before a step fails, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = tether::apply::DEFAULT_RETRY_BOUND.as_secs())]
    retry_bound: u64,
}

#[derive(clap::Args)]
struct ApplyArgs {
    /// A plan saved with `tether plan --out`.
    planfile: Option<PathBuf>,
    /// Apply even when the plan shows a flow AWS would stop at a hop.
    #[arg(long)]
    allow_broken_flows: bool,
    #[command(flatten)]
    run: RunArgs,
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
    /// Print the AWS API calls made, by service and operation: session calls, reads and
    /// writes apart.
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
    use std::io::IsTerminal;
    let cli = Cli::parse();
    // Logs go to stderr: coloured only on a terminal, and never against `--no-color` or
    // `NO_COLOR` (they hold for everything tether prints).
    let no_color_flag = match &cli.command {
        Command::Plan(a) => a.no_color,
        Command::Apply(a) => a.run.no_color,
        Command::Destroy(a) => a.no_color,
        Command::Show(a) => a.no_color,
        Command::Flows { no_color, .. } => *no_color,
        _ => false,
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_ansi(!no_color_flag && !no_color_env() && std::io::stderr().is_terminal())
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
    let mut stdout = std::io::stdout().lock();
    // The commands that need no topology: `-f`'s file need not exist for them.
    match &cli.command {
        Command::Show(args) => return show(args, &mut stdout),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(*shell, &mut Cli::command(), "tether", &mut stdout);
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let checked = tether::check_file(&cli.file);
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
        (Command::Flows { format, no_color }, Ok(c)) => {
            use std::io::IsTerminal;
            let world = tether::flows::World::new(&c.expansion, None);
            let flows = tether::flows::prove(&c.topology, &world);
            match format {
                DiagFormat::Text => {
                    let color = !no_color && !no_color_env() && std::io::stdout().is_terminal();
                    stdout.write_all(tether::plan::render::flows_text(&flows, color).as_bytes())?;
                }
                DiagFormat::Json => {
                    serde_json::to_writer_pretty(&mut stdout, &flows)?;
                    writeln!(stdout)?;
                }
            }
            Ok(if flows.iter().any(|f| f.broken()) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        (Command::Apply(args), Ok(c)) => apply(c, args, false, &mut stdout),
        (Command::Destroy(d), Ok(c)) => {
            let args = ApplyArgs {
                planfile: None,
                allow_broken_flows: true,
                run: d,
            };
            apply(c, args, true, &mut stdout)
        }
        (Command::Show(_) | Command::Completions { .. }, Ok(_)) => {
            unreachable!("handled before the topology is loaded")
        }
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
            .map(|t| tether::resource::Address(t.clone()))
            .collect(),
        parallelism: args.parallelism,
        claim: claim(&checked.source.file),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (plan, stats) = runtime.block_on(tether::reconcile::plan(&checked, &request))?;
    let color = !args.no_color && !no_color_env() && std::io::stdout().is_terminal();
    render(&plan, args.format, color, stdout)?;
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

/// Prints a plan in one of its three forms.
fn render(
    plan: &tether::plan::Plan,
    format: PlanFormat,
    color: bool,
    stdout: &mut impl Write,
) -> anyhow::Result<()> {
    match format {
        PlanFormat::Text => stdout.write_all(tether::plan::render::text(plan, color).as_bytes())?,
        PlanFormat::Markdown => {
            stdout.write_all(tether::plan::render::markdown(plan).as_bytes())?
        }
        PlanFormat::Json => {
            serde_json::to_writer_pretty(&mut *stdout, plan)?;
            writeln!(stdout)?;
        }
    }
    Ok(())
}

/// Reads a plan saved by `plan --out`. The format version is checked before the rest is
/// parsed, so a plan of another version is named as such rather than as a parse error.
fn read_plan(path: &std::path::Path) -> anyhow::Result<tether::plan::Plan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the plan {}", path.display()))?;
    let not_a_plan = || format!("{} is not a tether plan", path.display());
    let value: serde_json::Value = serde_json::from_str(&text).with_context(not_a_plan)?;
    let version = value
        .get("format_version")
        .ok_or_else(|| anyhow::anyhow!("{}: it has no format_version", not_a_plan()))?;
    if version != &serde_json::json!(tether::plan::FORMAT_VERSION) {
        anyhow::bail!(
            "{} has plan format {version}, this tether reads format {}",
            path.display(),
            tether::plan::FORMAT_VERSION
        );
    }
    serde_json::from_value(value).with_context(not_a_plan)
}

/// `tether show`: a saved plan, rendered offline.
fn show(args: &ShowArgs, stdout: &mut impl Write) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let plan = read_plan(&args.planfile)?;
    let color = !args.no_color && !no_color_env() && std::io::stdout().is_terminal();
    render(&plan, args.format, color, stdout)?;
    Ok(ExitCode::SUCCESS)
}

/// `apply`, and with `destroy` the removal of everything the topology owns.
fn apply(
    checked: tether::Checked,
    args: ApplyArgs,
    destroy: bool,
    stdout: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let verb = if destroy { "destroy" } else { "apply" };
    use std::io::IsTerminal;
    use tether::reconcile;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let request = reconcile::PlanRequest {
        targets: Vec::new(),
        parallelism: args.run.parallelism,
        claim: claim(&checked.source.file),
    };
    let color = !args.run.no_color && !no_color_env() && std::io::stdout().is_terminal();
    let aws = runtime.block_on(reconcile::connect(&checked))?;
    let plan = match &args.planfile {
        Some(path) => {
            let saved = read_plan(path)?;
            // Stale, or asking for what the topology does not imply: refused before any
            // step runs. The check's reads count in `--stats`, shown on refusal too.
            let checked_saved = runtime.block_on(reconcile::check_saved(
                aws.clone(),
                &checked,
                &saved,
                &request,
            ));
            if let Err(e) = checked_saved {
                if args.run.stats {
                    eprint!("{}", aws.stats().render());
                }
                return Err(e.into());
            }
            refuse_broken_flows(&saved, args.allow_broken_flows)?;
            saved
        }
        None => {
            let plan = if destroy {
                runtime.block_on(reconcile::destroy_plan(aws.clone(), &checked, &request))?
            } else {
                runtime.block_on(reconcile::plan_with(aws.clone(), &checked, &request))?
            };
            stdout.write_all(tether::plan::render::text(&plan, color).as_bytes())?;
            refuse_broken_flows(&plan, args.allow_broken_flows)?;
            if destroy {
                let kept: Vec<String> = plan
                    .changes
                    .iter()
                    .filter(|c| c.action == tether::plan::Action::NoOp)
                    .map(|c| format!("  {} ({})", c.address, c.reason))
                    .collect();
                if !kept.is_empty() {
                    writeln!(stdout, "\nThese stay:\n{}", kept.join("\n"))?;
                }
            }
            if plan.has_changes() && !args.run.auto_approve {
                if !std::io::stdin().is_terminal() {
                    anyhow::bail!("refusing to {verb} without confirmation: there is no terminal to ask on; review the plan and pass --auto-approve{}", if destroy { "" } else { " (or apply a saved plan file)" });
                }
                let question = if destroy {
                    "Destroy everything listed above?"
                } else {
                    "Apply these changes?"
                };
                write!(stdout, "\n{question} Only 'yes' is accepted: ")?;
                stdout.flush()?;
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if answer.trim() != "yes" {
                    writeln!(stdout, "Cancelled; nothing was changed.")?;
                    return Ok(ExitCode::from(1));
                }
            }
            plan
        }
    };
    if !plan.has_changes() && destroy {
        writeln!(stdout, "Nothing to destroy.")?;
        let errors = runtime.block_on(tether::apply::delete_markers(
            aws.clone(),
            &plan,
            &tether::apply::Report::default(),
            &tether::reconcile::home_region(&checked),
        ));
        for e in &errors {
            eprintln!("error: {e}");
        }
        return Ok(if errors.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    if !plan.has_changes() {
        return nothing_to_apply(
            &runtime,
            &aws,
            &plan,
            &tether::reconcile::home_region(&checked),
            &args,
            stdout,
        );
    }
    let home_region = tether::reconcile::home_region(&checked);
    runtime
        .block_on(tether::apply::grow_markers(
            aws.clone(),
            &plan,
            &home_region,
        ))
        .context("nothing was applied")?;
    let started = std::time::Instant::now();
    let total = plan
        .changes
        .iter()
        .filter(|c| c.action != tether::plan::Action::NoOp)
        .count();
    // A live view on terminals; plain timestamped lines (CI logs) otherwise.
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(total as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed:>4} [{bar:30}] {pos}/{len} {wide_msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar
    });
    let view = bar.clone();
    let on_event = std::sync::Arc::new(move |e: tether::apply::Event| {
        use tether::apply::{Event, Outcome};
        let t = format!("{} +{:.1}s", clock(), started.elapsed().as_secs_f64());
        let line = match &e {
            Event::Started(a, action) => format!("[{t}] {} {a} …", action.verb()),
            Event::Waiting(a, why, wait) => {
                format!("[{t}] waiting {:.1}s for {a}: {why}", wait.as_secs_f64())
            }
            Event::Finished(a, action, Outcome::Done) => {
                format!("[{t}] {} {a}: done", action.verb())
            }
            Event::Finished(a, action, Outcome::Failed(err)) => {
                format!("[{t}] {} {a}: FAILED: {err}", action.verb())
            }
            Event::Finished(a, action, Outcome::Skipped(because)) => {
                format!(
                    "[{t}] {} {a}: skipped (depends on {because})",
                    action.verb()
                )
            }
        };
        match &view {
            Some(bar) => match e {
                Event::Started(a, action) => bar.set_message(format!("{} {a}", action.verb())),
                Event::Finished(_, _, Outcome::Done) => bar.inc(1),
                // Failures, skips and waits stay on screen above the bar.
                _ => {
                    bar.println(line);
                    bar.inc(u64::from(matches!(e, Event::Finished(..))));
                }
            },
            None => eprintln!("{line}"),
        }
    });
    let options = tether::apply::Options {
        parallelism: args.run.parallelism,
        retry_bound: std::time::Duration::from_secs(args.run.retry_bound),
        home_region: home_region.clone(),
    };
    let report = runtime.block_on(tether::apply::execute(
        aws.clone(),
        &plan,
        &options,
        on_event,
    ));
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    stdout.write_all(report.render().as_bytes())?;
    let marker_errors = if destroy {
        runtime.block_on(tether::apply::delete_markers(
            aws.clone(),
            &plan,
            &report,
            &home_region,
        ))
    } else {
        runtime.block_on(tether::apply::prune_markers(
            aws.clone(),
            &plan,
            &report,
            &home_region,
        ))
    };
    for e in &marker_errors {
        eprintln!("error: {e}");
    }
    if args.run.stats {
        eprint!("{}", aws.stats().render());
    }
    Ok(
        if report.failed() + report.skipped() + marker_errors.len() > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        },
    )
}

/// Refuses a plan with a broken flow, naming each and why, unless told otherwise.
fn refuse_broken_flows(plan: &tether::plan::Plan, allow: bool) -> anyhow::Result<()> {
    let broken: Vec<String> = plan.broken_flows().map(|f| f.headline()).collect();
    if broken.is_empty() {
        return Ok(());
    }
    if allow {
        eprintln!(
            "warning: applying with {} broken flow(s) (--allow-broken-flows)",
            broken.len()
        );
        return Ok(());
    }
    anyhow::bail!(
        "refusing to apply: AWS would stop {} flow(s) at a hop; nothing was changed. Fix the policy named, or pass --allow-broken-flows.\n  {}",
        broken.len(),
        broken.join("\n  ")
    )
}

/// A plan without changes: only the ownership markers may need writing (a world built
/// by another tool, or a region that was dropped with nothing of tether's left in it).
fn nothing_to_apply(
    runtime: &tokio::runtime::Runtime,
    aws: &std::sync::Arc<tether::aws::Aws>,
    plan: &tether::plan::Plan,
    region: &str,
    args: &ApplyArgs,
    stdout: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    writeln!(stdout, "Nothing to apply.")?;
    let report = tether::apply::Report::default();
    runtime.block_on(tether::apply::grow_markers(aws.clone(), plan, region))?;
    let errors = runtime.block_on(tether::apply::prune_markers(
        aws.clone(),
        plan,
        &report,
        region,
    ));
    for e in &errors {
        eprintln!("error: {e}");
    }
    if args.run.stats {
        eprint!("{}", aws.stats().render());
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Who claims the topology name (recorded in every account's ownership marker): the
/// `TETHER_CLAIM` setting when given, else the topology file's git repository (its
/// `origin` remote, without credentials) and path in it, else the file's absolute path.
fn claim(file: &str) -> String {
    if let Some(c) = std::env::var("TETHER_CLAIM")
        .ok()
        .filter(|c| !c.trim().is_empty())
    {
        return c;
    }
    let path = std::fs::canonicalize(file).unwrap_or_else(|_| PathBuf::from(file));
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    match (
        git(&["config", "--get", "remote.origin.url"]),
        git(&["rev-parse", "--show-prefix"]),
    ) {
        (Some(url), Some(prefix)) if !url.is_empty() => {
            format!("{}:{prefix}{name}", tether::marker::repository(&url))
        }
        _ => path.display().to_string(),
    }
}

/// Whether `NO_COLOR` asks for no colour (set and not empty, per no-color.org).
fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// The UTC time of day, `HH:MM:SS`, for progress lines in logs.
fn clock() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}Z", day / 3600, day % 3600 / 60, day % 60)
}
