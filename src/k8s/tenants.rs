//! Who may act in the cluster, and on which stage: the AwsAccounts and namespaces tenancy is
//! decided on ([`Tenants`]), and the guards sharing a stage, the oldest of which keeps it: the
//! cluster's [`Scope`] of a guard's reconcile.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::OnceCell;
use tracing::warn;

use crate::aws::{CallLog, CloudWatch, OWN_ACCOUNT_UNKNOWN, RegionalClients};
use crate::core::crd::{ApiGatewayGuard, AwsAccount, STALLED};
use crate::core::model::{AwsError, GuardedApi, Identity};
use crate::core::tenancy::{self, OwnIdentity, Tenancy};
use crate::reconcile::{Scope, conflict};

/// How long the first tenancy decisions wait for the first listings of AwsAccounts and
/// namespaces, so a guard is not called AccountNotFound for want of a listing.
const TENANTS_WAIT: Duration = Duration::from_secs(10);

/// What tenancy is decided on: the AwsAccounts, the namespaces' labels, and who may use the
/// operator's own identity.
pub struct Tenants {
    pub accounts: Store<AwsAccount>,
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
    pub own_identity: OwnIdentity,
    /// Done once both listings completed (or `TENANTS_WAIT` passed).
    listed: OnceCell<()>,
    own_account: OnceCell<String>,
}

impl Tenants {
    pub fn new(
        accounts: Store<AwsAccount>,
        namespaces: Store<PartialObjectMeta<Namespace>>,
        own_identity: OwnIdentity,
    ) -> Self {
        Self {
            accounts,
            namespaces,
            own_identity,
            listed: OnceCell::new(),
            own_account: OnceCell::new(),
        }
    }

    async fn listed(&self) {
        self.listed
            .get_or_init(|| async {
                let both = async {
                    let _ = self.accounts.wait_until_ready().await;
                    let _ = self.namespaces.wait_until_ready().await;
                };
                if tokio::time::timeout(TENANTS_WAIT, both).await.is_err() {
                    warn!("AwsAccounts or namespaces not listed yet: deciding tenancy on what is known");
                }
            })
            .await;
    }

    pub fn account(&self, name: &str) -> Option<Arc<AwsAccount>> {
        self.accounts.get(&ObjectRef::new(name))
    }

    /// Whose credentials a guard naming `account` (or none) acts with, whatever its namespace
    /// (what only cleans up after it, or only counts its stage); `None` when the account is
    /// not known.
    pub fn identity(&self, account: Option<&str>) -> Option<Identity> {
        match account {
            None => Some(Identity::Own),
            Some(name) => Some(tenancy::access(Some(&*self.account(name)?)).0),
        }
    }

    /// The identity a guard (or policy) in `namespace` naming `account` acts as and the rules
    /// it acts under, or why it may not act.
    pub async fn access(
        &self,
        namespace: &str,
        account: Option<&str>,
    ) -> Result<(Identity, Option<Tenancy>), AwsError> {
        if !(account.is_none() && matches!(self.own_identity, OwnIdentity::All)) {
            self.listed().await;
        }
        self.decide(namespace, account)
    }

    /// [`Self::access`] on what the listings hold now.
    fn decide(
        &self,
        namespace: &str,
        account: Option<&str>,
    ) -> Result<(Identity, Option<Tenancy>), AwsError> {
        if account.is_none() && matches!(self.own_identity, OwnIdentity::All) {
            return Ok(tenancy::access(None));
        }
        let labels = self
            .namespaces
            .get(&ObjectRef::new(namespace))
            .and_then(|ns| ns.metadata.labels.clone())
            .unwrap_or_default();
        match account {
            None => {
                self.own_identity.check(namespace, &labels)?;
                Ok(tenancy::access(None))
            }
            Some(name) => {
                let account = self
                    .account(name)
                    .ok_or_else(|| tenancy::account_not_found(name))?;
                tenancy::check_namespace(&account, namespace, &labels)?;
                Ok(tenancy::access(Some(&account)))
            }
        }
    }

    /// The operator's own AWS account, once [`Self::own_account`] has asked STS.
    pub fn own_account_known(&self) -> Option<String> {
        self.own_account.get().cloned()
    }

    /// The AWS account the operator's own identity acts in (STS, once per process), the
    /// account of every guard and policy that names no AwsAccount.
    pub async fn own_account(&self, aws: &RegionalClients) -> String {
        let read = self
            .own_account
            .get_or_try_init(|| async {
                let (_, cloudwatch) = aws.clients(&Identity::Own, None, &CallLog::default()).await;
                let id = cloudwatch.account_id().await?;
                aws.learn_own_account(&id);
                Ok::<_, AwsError>(id)
            })
            .await;
        match read {
            Ok(id) => id.clone(),
            Err(err) => {
                warn!(error = %err, "the operator's own AWS account is not known");
                OWN_ACCOUNT_UNKNOWN.to_owned()
            }
        }
    }

    /// The AWS account a guard or policy naming `account` (or none) acts in: the one its
    /// AwsAccount's role reached (STS, in the account's status), else the one its role ARN
    /// names, or `own` for the operator's own identity. Stages are told apart by it, not by
    /// the AwsAccount's name: two roles in one account reach the same stages.
    pub fn reached(&self, account: Option<&str>, own: &str) -> Option<String> {
        match account {
            None => Some(own.to_owned()),
            Some(name) => {
                let account = self.account(name)?;
                let reached = account.status.as_ref().and_then(|s| s.account_id.clone());
                Some(reached.unwrap_or_else(|| account.spec.role_account().to_owned()))
            }
        }
    }

    /// Whether `guard` may claim a stage of `api`: only a guard that may act can keep
    /// it from others. Its namespace must be allowed its identity, `api` must carry the tags
    /// its AwsAccount requires, and its last reconcile must not have been refused (a role
    /// reaching another account, a usage plan serving another team's API, a spec that
    /// cannot be applied).
    pub fn may_claim(&self, guard: &ApiGatewayGuard, api: &GuardedApi) -> bool {
        if cannot_act(guard) {
            return false;
        }
        let namespace = guard.namespace().unwrap_or_default();
        match self.decide(&namespace, guard.spec.account.as_deref()) {
            Err(_) => false,
            Ok((_, None)) => true,
            Ok((_, Some(tenancy))) => tenancy.check_api(api).is_ok(),
        }
    }
}

/// The condition reason of a guard whose spec fails the checks the CRD cannot make.
const INVALID_SPEC: &str = "InvalidSpec";

/// Whether the guard's status, for its current generation, says it may not write at all:
/// tenancy refused it, or its spec cannot be applied.
fn cannot_act(guard: &ApiGatewayGuard) -> bool {
    let Some(status) = &guard.status else {
        return false;
    };
    status.observed_generation == guard.metadata.generation
        && status.conditions.iter().any(|c| {
            c.type_ == STALLED
                && c.status == "True"
                && [
                    tenancy::FORBIDDEN,
                    tenancy::ACCOUNT_NOT_FOUND,
                    tenancy::ACCOUNT_MISMATCH,
                    INVALID_SPEC,
                ]
                .contains(&c.reason.as_str())
        })
}

/// A guard's [`Scope`] in the cluster: the tenancy its namespace and AwsAccount decide, and
/// the other guards the operator watches.
pub struct Cluster<'a> {
    pub tenants: &'a Tenants,
    pub guards: &'a Store<ApiGatewayGuard>,
    pub aws: &'a RegionalClients,
}

impl Cluster<'_> {
    /// The other live guards that may be on `guard`'s stage: the same stage name in the same
    /// region (one may name the region, the other take the default).
    fn stage_peers(&self, guard: &ApiGatewayGuard) -> Vec<Arc<ApiGatewayGuard>> {
        let region = |g: &ApiGatewayGuard| self.aws.region_name(g.spec.region.as_deref());
        self.guards
            .state()
            .into_iter()
            .filter(|other| {
                other.uid() != guard.uid()
                    && other.metadata.deletion_timestamp.is_none()
                    && other.spec.stage == guard.spec.stage
                    && region(other) == region(guard)
            })
            .collect()
    }

    /// For a guard that may not act: a guard of its own namespace that names the same API
    /// and stage and may act. What other namespaces hold is not its business.
    fn guard_in_namespace(&self, guard: &ApiGatewayGuard) -> Option<String> {
        let (kind, by) = guard.spec.api()?;
        self.stage_peers(guard)
            .into_iter()
            .filter(|other| other.namespace() == guard.namespace())
            .filter(|other| other.names_api(kind, by.id.as_deref(), by.name.as_deref()))
            .find(|other| {
                let namespace = other.namespace().unwrap_or_default();
                !cannot_act(other)
                    && self
                        .tenants
                        .decide(&namespace, other.spec.account.as_deref())
                        .is_ok()
            })
            .map(|other| {
                format!(
                    "{}/{}",
                    other.namespace().unwrap_or_default(),
                    other.name_any()
                )
            })
    }

    /// Why `guard` may not act on its stage ([`conflict`]), when the oldest other live guard
    /// of the same stage is older than it: two guards must not fight over one stage, and the
    /// one that came first keeps it. A stage is where it is (the AWS account reached, the
    /// region, the API and the stage), whichever AwsAccount or identity each guard goes
    /// through; only a guard that may act there counts.
    /// `own` is the operator's own account.
    fn older_rival(
        &self,
        guard: &ApiGatewayGuard,
        peers: &[Arc<ApiGatewayGuard>],
        api: &GuardedApi,
        own: &str,
    ) -> Option<String> {
        let age = |g: &ApiGatewayGuard| {
            (
                g.metadata.creation_timestamp.clone().map(|t| t.0),
                g.namespace(),
                g.name_any(),
            )
        };
        let account = |g: &ApiGatewayGuard| self.tenants.reached(g.spec.account.as_deref(), own);
        peers
            .iter()
            .filter(|other| other.names_api(api.kind, Some(&api.id), Some(&api.name)))
            .filter(|other| age(other) < age(guard))
            .filter(|other| account(other) == account(guard))
            .filter(|other| self.tenants.may_claim(other, api))
            .min_by_key(|other| age(other))
            .map(|winner| {
                let name = format!(
                    "{}/{}",
                    winner.namespace().unwrap_or_default(),
                    winner.name_any()
                );
                let (theirs, ours) = (winner.policy(), guard.policy());
                conflict(&name, (theirs.as_deref(), ours.as_deref()))
            })
    }
}

impl Scope for Cluster<'_> {
    /// The namespace's rules decide: its AwsAccount must select it (namespaceSelector), a
    /// guard without one must be in a namespace allowed the operator's own identity, and a
    /// guard given spec.account after acting through the operator's own identity may switch
    /// only when the role reaches the account its alarms are in. A guard refused is told of a
    /// guard of its own namespace that may act on the same stage.
    async fn access(
        &self,
        guard: &ApiGatewayGuard,
    ) -> Result<(Identity, Option<Tenancy>), AwsError> {
        let namespace = guard.namespace().unwrap_or_else(|| "default".to_owned());
        let mut access = self
            .tenants
            .access(&namespace, guard.spec.account.as_deref())
            .await;
        if let Ok((_, Some(tenancy))) = &access
            && tenancy::acted_as_own(guard)
        {
            let own = self.tenants.own_account(self.aws).await;
            let known = (own != OWN_ACCOUNT_UNKNOWN).then_some(own.as_str());
            if let Err(refused) = tenancy.check_added(known) {
                access = Err(refused);
            }
        }
        access.map_err(|mut source| {
            if let Some(other) = self.guard_in_namespace(guard) {
                source.message = format!("{}; guard {other} guards this stage", source.message);
            }
            source
        })
    }

    /// The oldest other live guard of the stage that may act there keeps it; the operator's
    /// own account is asked of STS only when another guard may share the stage.
    async fn rival<'a>(
        &'a self,
        guard: &'a ApiGatewayGuard,
    ) -> impl Fn(&GuardedApi) -> Option<String> + Send + Sync + 'a {
        let peers = self.stage_peers(guard);
        let own = match peers.is_empty() {
            true => String::new(),
            false => self.tenants.own_account(self.aws).await,
        };
        move |api| self.older_rival(guard, &peers, api, &own)
    }

    /// The account an AwsAccount's status reports it reached, else its role's.
    fn reaches(&self, account: Option<&str>, own: &str) -> Option<String> {
        self.tenants.reached(account, own)
    }

    /// As far as the listings and the guard's status tell: a guard whose status says it was
    /// refused (for this generation) claims nothing.
    fn may_claim(&self, guard: &ApiGatewayGuard, api: &GuardedApi) -> bool {
        self.tenants.may_claim(guard, api)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_refused_at_its_generation_cannot_act_until_its_spec_changes() {
        let mut guard: ApiGatewayGuard = serde_yaml::from_str(
            "apiVersion: apigw-guard.dev/v1alpha1
kind: ApiGatewayGuard
metadata: {name: g, namespace: ns, generation: 2}
spec: {restApi: {id: a1}, stage: prod}
status:
  observedGeneration: 2
  conditions:
  - {type: Stalled, status: 'True', reason: Forbidden, message: no, lastTransitionTime: t}
",
        )
        .unwrap();
        assert!(cannot_act(&guard));
        guard.metadata.generation = Some(3);
        assert!(!cannot_act(&guard), "a changed spec may be allowed");
        guard.metadata.generation = Some(2);
        guard.status.as_mut().unwrap().conditions[0].reason = "Conflict".to_owned();
        assert!(
            !cannot_act(&guard),
            "a younger rival may act once the older is gone"
        );
        guard.status.as_mut().unwrap().conditions[0].reason = INVALID_SPEC.to_owned();
        assert!(cannot_act(&guard));
    }
}
