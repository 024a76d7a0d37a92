//! The command line: its arguments, and the one-shot commands `crdgen`, `plan` (dry run),
//! `reconcile --once` from manifest files and `diagnose`. The long-running `run` is
//! `k8s::operator`.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use futures::{StreamExt, stream};
use kube::ResourceExt;

use crate::aws::{ApiGateway, AwsArgs, Call, CallLog, CloudWatch, RegionalClients};
use crate::core::crd::{self, ApiGatewayGuard, ApiGatewayGuardPolicy, AwsAccount};
use crate::core::model::{ApiKind, AwsError, GuardId, GuardedApi, Identity};
use crate::core::policy::Coverage;
use crate::core::report::{Outcome, Report};
use crate::core::status::{self, now};
use crate::core::tenancy::{self, Tenancy};
use crate::k8s::operator::{RunArgs, parse_duration};
use crate::k8s::telemetry::{LogFormat, init_logging};
use crate::reconcile::discovery::discover;
use crate::reconcile::{self, Mode, Scope, other_kind_hint};

// Guards read from YAML files, checked as the API server would. Uses: core.
pub mod manifest;
// The runbook's read-only diagnosis of one stage. Uses: core, aws.
pub mod diagnose;
mod verify;

/// Keeps AWS API Gateway stages (REST and HTTP APIs) guarded against 5XX incidents:
/// CloudWatch alarms, tracing, logging and throttling, declared as ApiGatewayGuard resources.
#[derive(Debug, Parser)]
#[command(name = "apigw-guard", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the operator in a cluster: reconcile every ApiGatewayGuard, ApiGatewayGuardPolicy
    /// and AwsAccount, re-read AWS on a resync interval, and serve /healthz, /readyz and
    /// /metrics.
    Run(RunArgs),
    #[command(flatten)]
    Tool(Tool),
}

/// The commands that run once and exit.
#[derive(Debug, Subcommand)]
pub enum Tool {
    /// Print the CustomResourceDefinitions (ApiGatewayGuard, AwsAccount, ApiGatewayGuardPolicy)
    /// as YAML documents.
    Crdgen {
        /// Write each into this directory as KIND.yaml (e.g. crds/) instead.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Show what reconciling the guards in a file would change in AWS, one line per action.
    /// Reads AWS, never writes. Exits non-zero when a guard cannot be brought in sync.
    Plan(FileArgs),
    /// Run the 5XX runbook's diagnosis for one stage and print a report: metrics, execution
    /// logs, backends, configuration and throttles, the likely error class and its resolution.
    /// Read-only: never writes to AWS.
    #[command(mut_arg("region", |region| {
        region.help("AWS region of the stage; defaults to the SDK's region chain")
    }))]
    Diagnose(DiagnoseArgs),
    /// Apply the guards in a file to AWS and print each resulting status as YAML.
    /// Exits non-zero when a guard is not Ready afterwards.
    Reconcile {
        #[command(flatten)]
        args: FileArgs,
        /// Reconcile each guard once and exit (required: the continuous loop is `run`, in a
        /// cluster).
        #[arg(long, required = true)]
        once: bool,
    },
    /// Verify the deployment each guard's stage (spec.deployments) serves now, over its window
    /// from when the stage took it, against the same minutes before: exits 0 when verified,
    /// 1 when it regressed, left the stage (rolled back, or deployed again) or, without
    /// --wait, is still being verified; 2 on bad input. Read-only: rolling back is the
    /// operator's.
    Verify(verify::VerifyArgs),
}

/// `plan` and `reconcile --once`: a manifest file and how to reach AWS.
#[derive(Debug, Args)]
pub struct FileArgs {
    /// A YAML file of one or more ApiGatewayGuard and ApiGatewayGuardPolicy documents, and
    /// the AwsAccount documents their spec.account names. A policy is expanded against AWS in
    /// memory into the guard it would keep for each stage it matches. An account's role,
    /// external id and API tag rules apply as in a cluster; its namespaceSelector does
    /// not, since a file has no namespaces (Namespace documents are passed over). `-` reads
    /// standard input.
    #[arg(short = 'f', long = "filename")]
    file: PathBuf,
    /// How many guards are read and reconciled at once. Guards of a region share their AWS
    /// reads either way.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    #[command(flatten)]
    aws: AwsArgs,
}

/// `diagnose`: which stage, how far back, and how to report.
#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// Which kind of API: a REST API (v1) or an HTTP API (v2).
    #[arg(long, value_enum, default_value_t)]
    kind: KindArg,
    /// The API's name.
    #[arg(long, required_unless_present = "api_id", conflicts_with = "api_id")]
    api: Option<String>,
    /// The API's id, instead of its name.
    #[arg(long)]
    api_id: Option<String>,
    /// The stage.
    #[arg(long)]
    stage: String,
    /// How far back to look (e.g. 30m, 1h, 24h).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    since: Duration,
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    /// Send each HTTP backend a HEAD request, as the runbook's `curl -I`; without it diagnose
    /// makes no request to any backend.
    #[arg(long)]
    probe: bool,
    /// Read the stage in the account of this AwsAccount (read from the cluster of the current
    /// kubeconfig context), through its role.
    #[arg(long, conflicts_with = "role_arn")]
    account: Option<String>,
    /// Read the stage in another account through this IAM role (STS AssumeRole).
    #[arg(long)]
    role_arn: Option<String>,
    /// The external id the role's trust policy requires, with --role-arn.
    #[arg(long, requires = "role_arn")]
    external_id: Option<String>,
    #[command(flatten)]
    aws: AwsArgs,
}

impl DiagnoseArgs {
    /// Whose credentials diagnose reads with.
    async fn identity(&self) -> Result<Identity, String> {
        if let Some(arn) = &self.role_arn {
            if let Some(problem) = crate::core::validate::role_arn_problem(arn) {
                return Err(problem.replace("spec.roleArn", "--role-arn"));
            }
            return Ok(Identity::Role {
                arn: arn.clone(),
                external_id: self.external_id.clone(),
            });
        }
        let Some(name) = &self.account else {
            return Ok(Identity::Own);
        };
        let client = kube::Client::try_default()
            .await
            .map_err(|e| format!("--account {name}: no Kubernetes client configuration: {e}"))?;
        let account = kube::Api::<crd::AwsAccount>::all(client)
            .get_opt(name)
            .await
            .map_err(|e| format!("--account {name}: {e}"))?
            .ok_or_else(|| format!("--account {name}: no AwsAccount {name:?} in the cluster"))?;
        Ok(tenancy::access(Some(&account)).0)
    }

    /// Where diagnose looked, for its errors: the region, and the AWS account (`account`,
    /// when known) and whose credentials reached it.
    fn looked_in(&self, region: &str, account: Option<&str>) -> String {
        let through = match (&self.account, &self.role_arn) {
            (Some(name), _) => format!(" through AwsAccount {name}'s role"),
            (None, Some(arn)) => format!(" through role {arn}"),
            (None, None) => " of the current AWS credentials".to_owned(),
        };
        match account {
            Some(account) => format!("region {region}, account {account}{through}"),
            None => format!("region {region}, the account{through}"),
        }
    }
}

/// `diagnose --kind`: a kind of API by its profile's `cli_kind`.
#[derive(Clone, Copy, Debug)]
struct KindArg(ApiKind);

impl clap::ValueEnum for KindArg {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: std::sync::OnceLock<Vec<KindArg>> = std::sync::OnceLock::new();
        ALL.get_or_init(|| crate::core::kind::KINDS.map(KindArg).to_vec())
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.0.profile().cli_kind))
    }
}

/// The kind whose profile says `diagnose` takes it when `--kind` is not given.
impl Default for KindArg {
    fn default() -> Self {
        KindArg(
            crate::core::kind::KINDS
                .into_iter()
                .find(|kind| kind.profile().cli_default)
                .expect("one kind is diagnose's default"),
        )
    }
}

impl From<KindArg> for ApiKind {
    fn from(kind: KindArg) -> Self {
        kind.0
    }
}

/// `diagnose --output`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Output {
    Text,
    Json,
}

/// Runs a one-shot command; the exit code says whether every guard is (or can be brought) in
/// sync.
pub async fn run(tool: Tool) -> ExitCode {
    // The CLI reports on stdout and stderr itself; logs are for what went wrong underneath.
    init_logging(LogFormat::Text, "warn,aws_config=error");
    exit_code(match tool {
        Tool::Crdgen { dir } => crdgen(dir.as_deref()),
        Tool::Plan(args) => run_guards(&args, Mode::Plan).await,
        Tool::Diagnose(args) => diagnose(&args).await,
        Tool::Reconcile { args, .. } => run_guards(&args, Mode::Apply).await,
        Tool::Verify(args) => verify::verify(&args).await,
    })
}

/// 0 when all is well, 1 when a guard is not (or cannot be brought) in sync, 2 on bad input.
pub fn exit_code(result: Result<bool, String>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

async fn diagnose(args: &DiagnoseArgs) -> Result<bool, String> {
    let regional = args.aws.clients().await;
    if !regional.has_region(None) {
        return Err("no AWS region; set --region or AWS_REGION".to_owned());
    }
    let identity = args.identity().await?;
    let calls = CallLog::default();
    let aws = regional.diagnostics(&identity, None, &calls).await;
    let api = crate::core::crd::ResourceRef {
        id: args.api_id.clone(),
        name: args.api.clone(),
    };
    let region = regional.region_name(None);
    let report = match crate::cli::diagnose::diagnose(
        &aws,
        &region,
        args.kind.into(),
        &api,
        &args.stage,
        args.since,
        args.probe,
    )
    .await
    {
        Ok(report) => report,
        // A stage not found is often one looked for in the wrong place: say where.
        Err(err) => {
            let account = match identity.arn_account() {
                Some(account) => Some(account.to_owned()),
                None => aws.cloudwatch.account_id().await.ok(),
            };
            let looked = args.looked_in(&region, account.as_deref());
            let kind = |kind: ApiKind| format!("--kind {}", kind.profile().cli_kind);
            let hint = match err.code == "NotFoundException" {
                true => other_kind_hint(&aws.apigateway, args.kind.into(), &api, kind).await,
                false => String::new(),
            };
            return Err(format!("{err}{hint} (looked in {looked})"));
        }
    };
    match args.output {
        Output::Text => print!("{}", crate::cli::diagnose::render_text(&report)),
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        ),
    }
    Ok(true)
}

fn crdgen(dir: Option<&std::path::Path>) -> Result<bool, String> {
    let crds = crd_yamls()?;
    match dir {
        None => {
            let documents: Vec<&str> = crds.iter().map(|(_, yaml)| yaml.as_str()).collect();
            print!("{}", documents.join("---\n"));
        }
        Some(dir) => {
            for (stem, yaml) in crds {
                let file = dir.join(format!("{stem}.yaml"));
                std::fs::write(&file, yaml).map_err(|e| format!("{}: {e}", file.display()))?;
            }
        }
    }
    Ok(true)
}

/// Each CRD as YAML that YAML 1.1 readers (kubectl's among them) read back unchanged, with
/// the file stem it is kept under in `crds/`.
pub fn crd_yamls() -> Result<Vec<(&'static str, String)>, String> {
    crd::definitions()
        .into_iter()
        .map(|(stem, crd)| {
            let yaml = serde_yaml::to_string(&crd).map_err(|e| e.to_string())?;
            Ok((stem, quote_yaml11_booleans(&yaml)))
        })
        .collect()
}

/// Quotes plain scalars such as `OFF` that YAML 1.2 writers leave bare but YAML 1.1 reads as
/// booleans: the log level enum would otherwise turn into `false`.
fn quote_yaml11_booleans(yaml: &str) -> String {
    const WORDS: &[&str] = &["y", "yes", "n", "no", "on", "off"];
    let mut out = String::with_capacity(yaml.len());
    for line in yaml.lines() {
        let split = line.rfind(": ").map(|i| i + 2).or_else(|| {
            let indent = line.len() - line.trim_start().len();
            line[indent..].starts_with("- ").then_some(indent + 2)
        });
        match split {
            Some(at) if WORDS.contains(&line[at..].to_ascii_lowercase().as_str()) => {
                out.push_str(&format!("{}'{}'", &line[..at], &line[at..]));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

async fn run_guards(args: &FileArgs, mode: Mode) -> Result<bool, String> {
    let manifest::Manifest {
        mut guards,
        accounts,
        policies,
    } = manifest::load(&args.file).map_err(|e| e.to_string())?;
    if guards.is_empty() && policies.is_empty() {
        return Err(format!(
            "{}: no ApiGatewayGuard or ApiGatewayGuardPolicy documents",
            args.file.display()
        ));
    }
    let regional = args.aws.clients().await;
    let regions = guards
        .iter()
        .map(|g| (format!("guard {}", g.name_any()), &g.spec.region))
        .chain(
            policies
                .iter()
                .map(|p| (format!("policy {}", p.name_any()), &p.spec.region)),
        );
    for (what, region) in regions {
        if !regional.has_region(region.as_deref()) {
            return Err(format!(
                "{what}: no AWS region; set spec.region, --region or AWS_REGION"
            ));
        }
    }
    let reading = File::reading(&accounts);
    let mut all_ok = true;
    // Policies in a file have no creation time: the first in the file is the older, as the
    // first guard on a stage is.
    let mut policies = policies;
    for (i, policy) in policies.iter_mut().enumerate() {
        if policy.metadata.creation_timestamp.is_none() {
            let at = k8s_openapi::jiff::Timestamp::from_second(i as i64).unwrap_or_default();
            policy.metadata.creation_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at));
        }
    }
    for policy in &policies {
        match expand(&regional, policy, &guards, &reading, mode).await {
            Ok(children) => guards.extend(children),
            Err(message) => {
                all_ok = false;
                eprintln!("policy {}: {message}", policy_id(policy));
            }
        }
    }
    let scope = File::of(&regional, &guards, &accounts).await;
    let run = |guard: &ApiGatewayGuard| {
        let (scope, regional) = (&scope, &regional);
        let guard = guard.clone();
        async move {
            let calls = CallLog::default();
            let report = reconcile::guard(scope, regional, &guard, mode, &calls).await;
            (report, calls.snapshot())
        }
    };
    let mut runs: Vec<(Report, Vec<Call>)> = stream::iter(&guards)
        .map(run)
        .buffered(usize::from(args.concurrency))
        .collect()
        .await;
    wait_for_turns(&guards, &mut runs, run).await;
    let mut out = std::io::stdout().lock();
    let mut costs = crate::core::plan::cost::MonthlyCost::default();
    for (guard, (report, calls)) in guards.iter().zip(&runs) {
        let ok = if mode == Mode::Plan {
            let ok = print_plan(&mut out, report);
            if let Ok(observed) = &report.observed {
                let cost =
                    crate::core::plan::cost::monthly(&report.guard, &guard.spec, &observed.api);
                let _ = writeln!(out, "  costs {cost}");
                costs += &cost;
            }
            ok
        } else {
            print_status(&mut out, guard, report)?
        };
        all_ok &= ok;
        eprintln!("{}: AWS calls: {}", report.guard, CallLog::summary(calls));
    }
    // What guarding the file's stages costs, a policy's among them, before it is applied.
    // Not for a plan that read no guard's API: a total of none says nothing.
    let costed = runs.iter().filter(|(r, _)| r.observed.is_ok()).count();
    if mode == Mode::Plan && costed > 0 {
        let _ = writeln!(
            out,
            "{costed} guard(s) cost {costs} at CloudWatch's list prices (those of us-east-1, \
             whatever the guards' regions; read {}; access log ingestion and detailed metrics, \
             priced by volume, not counted)",
            crate::core::plan::cost::PRICES.read
        );
    }
    Ok(all_ok)
}

fn policy_id(policy: &ApiGatewayGuardPolicy) -> String {
    format!(
        "{}/{}",
        policy.namespace().unwrap_or_else(|| "default".to_owned()),
        policy.name_any()
    )
}

/// The guards a policy would keep, found in AWS as the operator finds them; a plan prints
/// what the policy covers, for review before it is applied. Explicit guards of the file beat
/// the policy, and so do the guards of a policy earlier in the file, as in a cluster.
async fn expand(
    regional: &RegionalClients,
    policy: &ApiGatewayGuardPolicy,
    explicit: &[ApiGatewayGuard],
    scope: &File<'_>,
    mode: Mode,
) -> Result<Vec<ApiGatewayGuard>, String> {
    let (identity, _) =
        file_access(scope.accounts, policy.spec.account.as_deref()).map_err(|e| e.to_string())?;
    let calls = CallLog::default();
    let region = policy.spec.region.as_deref();
    let (apigateway, _) = regional.clients(&identity, region, &calls).await;
    let matched = discover(&apigateway, &policy.spec.selector)
        .await
        .map_err(|e| format!("discovering stages: {e}"))?;
    let named = explicit
        .iter()
        .map(|g| &g.spec.account)
        .chain([&policy.spec.account]);
    let own = own_account_if_mixed(regional, named, &calls).await;
    let holds = reconcile::holds(scope, regional, policy, own.as_deref().unwrap_or(OWN));
    let covered = crate::core::policy::coverage(policy, &matched, explicit, holds);
    let mut lines = vec![format!(
        "policy {}: {} stage(s) matched (AWS calls: {})",
        policy_id(policy),
        matched.len(),
        CallLog::summary(&calls.snapshot())
    )];
    let mut children = Vec::new();
    for (stage, coverage) in &covered {
        lines.push(match coverage {
            Coverage::Guard { name, spec } => {
                children.push(crate::core::policy::guard(policy, name, spec));
                // An HTTP API's stage says so, and what of the template it goes without.
                let kind = stage.api.kind.profile().stage_marker;
                let without = policy
                    .spec
                    .template
                    .left_out(stage.api.kind)
                    .map_or(String::new(), |l| {
                        format!(", without the template's {}", l.sections.join(", "))
                    });
                format!("  + {}{kind}: guard {name}{without}", stage.describe())
            }
            Coverage::Skipped { by } => {
                format!("  = {}: skipped, guard {by} guards it", stage.describe())
            }
            Coverage::Conflicting { with } => {
                format!(
                    "  ! {}: the older policy {with} guards it",
                    stage.describe()
                )
            }
        });
    }
    // A plan's stdout is the review; a reconcile's is the guards' statuses as YAML.
    for line in lines {
        match mode {
            Mode::Plan => println!("{line}"),
            Mode::Apply => eprintln!("{line}"),
        }
    }
    Ok(children)
}

/// A guard's [`Scope`] in a file: the file's AwsAccounts, and its guards in file order.
/// Where it differs from the cluster's (`k8s::tenants::Cluster`): a file has no namespaces,
/// so neither an AwsAccount's namespaceSelector nor the operator's own-identity namespaces
/// apply (whoever runs the CLI holds the credentials it uses); its guards have no history, so
/// none switches from the operator's own identity; and the file's order stands for age: the
/// first guard of a stage keeps it ([`earlier_rivals`], found before any guard runs).
pub struct File<'a> {
    accounts: &'a [AwsAccount],
    /// By `namespace/name`: why an earlier guard of the file keeps the guard's stage.
    rivals: HashMap<String, Option<String>>,
}

impl<'a> File<'a> {
    /// The scope of a file's `guards` (in file order) acting through its `accounts`: each
    /// guard's API is resolved first, to know which guard of a stage comes first.
    pub async fn of(
        regional: &RegionalClients,
        guards: &[ApiGatewayGuard],
        accounts: &'a [AwsAccount],
    ) -> Self {
        let access = |guard: &ApiGatewayGuard| file_access(accounts, guard.spec.account.as_deref());
        Self {
            accounts,
            rivals: earlier_rivals(regional, guards, &access).await,
        }
    }

    /// The scope of a file's guards for a read-only look, where no guard yields to another.
    pub fn reading(accounts: &'a [AwsAccount]) -> Self {
        Self {
            accounts,
            rivals: HashMap::new(),
        }
    }
}

impl Scope for File<'_> {
    async fn access(
        &self,
        guard: &ApiGatewayGuard,
    ) -> Result<(Identity, Option<Tenancy>), AwsError> {
        file_access(self.accounts, guard.spec.account.as_deref())
    }

    async fn rival<'a>(
        &'a self,
        guard: &'a ApiGatewayGuard,
    ) -> impl Fn(&GuardedApi) -> Option<String> + Send + Sync + 'a {
        let rival = self.rivals.get(&GuardId::of(guard).to_string()).cloned();
        move |_| rival.clone().flatten()
    }

    /// The account of the AwsAccount's role: a file's AwsAccounts have no status to report
    /// the account reached.
    fn reaches(&self, account: Option<&str>, own: &str) -> Option<String> {
        let (identity, _) = file_access(self.accounts, account).ok()?;
        Some(account_key(&identity, Some(own)))
    }

    /// As the AwsAccount's tenancy rules tell: a file's guards have no status to say one was
    /// refused.
    fn may_claim(&self, guard: &ApiGatewayGuard, api: &GuardedApi) -> bool {
        file_access(self.accounts, guard.spec.account.as_deref())
            .is_ok_and(|(_, tenancy)| tenancy.is_none_or(|t| t.check_api(api).is_ok()))
    }
}

/// Whose identity, and which tenancy rules, a guard of a file acts with: the file's AwsAccount
/// that `account` names, or the operator's own identity when it names none.
fn file_access(
    accounts: &[AwsAccount],
    account: Option<&str>,
) -> Result<(Identity, Option<Tenancy>), AwsError> {
    match account {
        None => Ok(tenancy::access(None)),
        Some(name) => accounts
            .iter()
            .find(|a| a.name_any() == name)
            .map(|account| tenancy::access(Some(account)))
            .ok_or_else(|| tenancy::account_not_found(name)),
    }
}

/// Resolves every guard's REST API up front, through the shared listing the reconciles then
/// reuse, for two things: every stage's metrics are read together (one GetMetricData per 100
/// stages, not one per guard), and for each guard (by `namespace/name`) whether an earlier
/// guard of the file holds the same stage, and then why. A stage is known by its real
/// identity: the account and region each uses, the REST API's id however it is named, the
/// stage. The first keeps the stage, as the older guard does in a cluster; the others write
/// nothing to it.
async fn earlier_rivals(
    regional: &RegionalClients,
    guards: &[ApiGatewayGuard],
    access: &impl Fn(&ApiGatewayGuard) -> Result<(Identity, Option<Tenancy>), AwsError>,
) -> HashMap<String, Option<String>> {
    let calls = CallLog::default();
    let own = own_account_if_mixed(regional, guards.iter().map(|g| &g.spec.account), &calls).await;
    let account_of = |identity: &Identity| account_key(identity, own.as_deref());
    let mut stages: Vec<((String, String, String, String), String)> = Vec::new();
    let mut rivals = HashMap::new();
    for guard in guards {
        let id = GuardId::of(guard).to_string();
        // A guard without an account, or whose API cannot be resolved, claims nothing; its
        // reconcile reports why.
        let Ok((identity, tenancy)) = access(guard) else {
            rivals.insert(id, None);
            continue;
        };
        let region = guard.spec.region.as_deref();
        let (apigateway, _) = regional.clients(&identity, region, &calls).await;
        let found = match guard.spec.api() {
            Some((kind, by)) => apigateway.find_api(kind, by).await,
            None => Err(AwsError::check("InvalidSpec", "names no API")),
        };
        let stage = match found {
            Err(_) => None,
            // Nor does a guard its account's rules refuse this API.
            Ok(api) if tenancy.as_ref().is_some_and(|t| t.check_api(&api).is_err()) => None,
            Ok(api) => {
                let stage = guard.spec.stage.clone();
                regional
                    .expect_metrics(&identity, region, [api.metric_stage(&stage)])
                    .await;
                let region = regional.region_name(region);
                Some((account_of(&identity), region, api.id, stage))
            }
        };
        let earlier = stage
            .as_ref()
            .and_then(|stage| stages.iter().find(|(s, _)| s == stage))
            .map(|(_, first)| {
                format!(
                    "guard {first} comes first in the file and guards it; the first of a \
                     stage's guards keeps it: remove one of the two from the file"
                )
            });
        if let (Some(stage), None) = (stage, &earlier) {
            stages.push((stage, id.clone()));
        }
        rivals.insert(id, earlier);
    }
    let calls = calls.snapshot();
    if !calls.is_empty() {
        eprintln!(
            "resolving the APIs of the file's guards: AWS calls: {}",
            CallLog::summary(&calls)
        );
    }
    rivals
}

/// The AWS account an identity acts in, as a file can know it: a role's from its ARN, the
/// operator's own from STS when asked (`own`), else one account apart from every role's.
fn account_key(identity: &Identity, own: Option<&str>) -> String {
    identity.arn_account().or(own).unwrap_or(OWN).to_owned()
}

/// The account of the operator's own identity where it is not known.
const OWN: &str = "own";

/// The account the operator's own identity acts in, asked of STS only when objects through an
/// AwsAccount (`named` accounts given) and objects through the own identity (none given) may
/// reach one account.
async fn own_account_if_mixed<'a>(
    regional: &RegionalClients,
    named: impl Iterator<Item = &'a Option<String>> + Clone,
    calls: &CallLog,
) -> Option<String> {
    if !(named.clone().any(Option::is_some) && named.clone().any(Option::is_none)) {
        return None;
    }
    let (_, cloudwatch) = regional.clients(&Identity::Own, None, calls).await;
    cloudwatch.account_id().await.ok()
}

/// Runs again, each at its turn, the guards whose changes wait in a slow quota's queue
/// (UpdateUsagePlan), once every guard's other controls are done; what both runs applied is
/// kept.
async fn wait_for_turns<F, Fut>(
    guards: &[ApiGatewayGuard],
    runs: &mut [(Report, Vec<Call>)],
    run: F,
) where
    F: Fn(&ApiGatewayGuard) -> Fut,
    Fut: std::future::Future<Output = (Report, Vec<Call>)>,
{
    loop {
        let mut queued: Vec<(Duration, usize)> = runs
            .iter()
            .enumerate()
            .filter_map(|(i, (report, _))| report.queued_turn().map(|wait| (wait, i)))
            .collect();
        let Some(last) = queued.iter().map(|(wait, _)| *wait).max() else {
            return;
        };
        queued.sort();
        eprintln!(
            "{} change(s) wait for their turn under AWS's quota; the last is sent in {} s",
            queued.len(),
            last.as_secs_f64().ceil()
        );
        let start = tokio::time::Instant::now();
        for (wait, i) in queued {
            tokio::time::sleep_until(start + wait).await;
            let (mut report, calls) = run(&guards[i]).await;
            let (earlier, earlier_calls) = &mut runs[i];
            let mut outcomes: Vec<Outcome> = earlier
                .outcomes
                .drain(..)
                .filter(|o| o.result.is_ok())
                .collect();
            outcomes.append(&mut report.outcomes);
            report.outcomes = outcomes;
            earlier_calls.extend(calls);
            *earlier = report;
        }
    }
}

/// One line per action, then what blocks the rest; true when applying would bring the guard
/// in sync.
fn print_plan(out: &mut impl Write, report: &Report) -> bool {
    let observed = match &report.observed {
        Ok(observed) => observed,
        Err(err) => {
            let _ = writeln!(out, "guard {}: cannot plan: {err}", report.guard);
            return false;
        }
    };
    let _ = writeln!(
        out,
        "guard {} ({} {} {}):{}",
        report.guard,
        observed.api.kind.noun(),
        observed.api.name,
        observed.api.id,
        if report.plan.is_in_sync() {
            " in sync"
        } else {
            ""
        }
    );
    for action in &report.plan.actions {
        let _ = writeln!(out, "  {action}");
    }
    for blocker in &report.plan.blockers {
        let _ = writeln!(
            out,
            "  ! {} {}: {}",
            blocker.control.condition_type(),
            blocker.reason,
            blocker.message
        );
    }
    report.plan.blockers.is_empty()
}

/// The guard with its new status, as a YAML document; true when it is Ready.
fn print_status(
    out: &mut impl Write,
    guard: &ApiGatewayGuard,
    report: &Report,
) -> Result<bool, String> {
    for outcome in &report.outcomes {
        match &outcome.result {
            Ok(()) => eprintln!("{}: applied {}", report.guard, outcome.action),
            Err(err) => eprintln!("{}: failed {}: {err}", report.guard, outcome.action),
        }
    }
    let status = status::build(
        &guard.spec,
        guard.metadata.generation,
        report,
        guard.status.as_ref(),
        &now(),
    );
    let ready = crd::holds(&status.conditions, crd::READY);
    let mut shown = guard.clone();
    shown.status = Some(status);
    let yaml = serde_yaml::to_string(&shown).map_err(|e| e.to_string())?;
    writeln!(out, "---\n{}", yaml.trim_end()).map_err(|e| e.to_string())?;
    Ok(ready)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn diagnose_args(extra: &[&str]) -> DiagnoseArgs {
        let base = [
            "apigw-guard",
            "diagnose",
            "--api",
            "orders-api",
            "--stage",
            "prod",
        ];
        let cli = Cli::try_parse_from(base.iter().chain(extra)).unwrap();
        match cli.command {
            Command::Tool(Tool::Diagnose(args)) => args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn diagnose_says_which_account_and_region_it_looked_in() {
        let through_account = diagnose_args(&["--account", "payments-prod"]);
        assert_eq!(
            through_account.looked_in("eu-west-1", Some("111122223333")),
            "region eu-west-1, account 111122223333 through AwsAccount payments-prod's role"
        );
        let role = "arn:aws:iam::111122223333:role/apigw-guard";
        let through_role = diagnose_args(&["--role-arn", role]);
        assert_eq!(
            through_role.looked_in("eu-west-1", Some("111122223333")),
            format!("region eu-west-1, account 111122223333 through role {role}")
        );
        let own = diagnose_args(&[]);
        assert_eq!(
            own.looked_in("us-east-1", None),
            "region us-east-1, the account of the current AWS credentials"
        );
    }
}
