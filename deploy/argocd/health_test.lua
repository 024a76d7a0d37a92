-- Tests health.lua against sample guards, policies and AwsAccounts: `.venv/bin/python scripts/lua.py deploy/argocd/health_test.lua`
-- (Lua 5.4 from PyPI's lupa, which scripts/test installs into .venv), or any `lua5.4 deploy/argocd/health_test.lua`.
local dir = arg[0]:match("(.*/)") or "./"
local check = assert(loadfile(dir .. "health.lua", "t", setmetatable({}, {__index = _G})))

local function health(guard)
  local env = setmetatable({obj = guard}, {__index = _G})
  return assert(load(string.dump(check), "health", "b", env))()
end

local function guard(generation, observed, conditions)
  return {metadata = {generation = generation},
          status = conditions and {observedGeneration = observed, conditions = conditions} or nil}
end

local function account(generation, observed, conditions)
  local obj = guard(generation, observed, conditions)
  obj.apiVersion, obj.kind = "apigw-guard.dev/v1alpha1", "AwsAccount"
  obj.spec = {roleArn = "arn:aws:iam::111122223333:role/apigw-guard", namespaceSelector = {}}
  return obj
end

local function policy(generation, observed, conditions)
  local obj = guard(generation, observed, conditions)
  obj.apiVersion, obj.kind = "apigw-guard.dev/v1alpha1", "ApiGatewayGuardPolicy"
  obj.spec = {selector = {stages = {"prod"}}, template = {}}
  if obj.status ~= nil then
    obj.status.matched, obj.status.guarded, obj.status.ready = 3, 3, 3
  end
  return obj
end

local function cond(type, status, reason, message)
  return {type = type, status = status, reason = reason, message = message}
end

local cases = {
  {"no status yet", guard(1, nil, nil), "Progressing"},
  {"ready", guard(2, 2, {cond("Ready", "True", "Guarded", "5/5 controls in sync"),
                          cond("Stalled", "False", "Guarded", "")}), "Healthy", "5/5 controls in sync"},
  {"stalled", guard(1, 1, {cond("Ready", "False", "NotFoundException", "x"),
                            cond("Stalled", "True", "NotFoundException", "REST API named \"a\"")}),
   "Degraded", "NotFoundException: REST API named \"a\""},
  {"retrying", guard(1, 1, {cond("Ready", "False", "TooManyRequestsException", "throttled"),
                             cond("Reconciling", "True", "TooManyRequestsException", "throttled"),
                             cond("Stalled", "False", "Retrying", "")}), "Progressing"},
  {"old generation", guard(3, 2, {cond("Ready", "True", "Guarded", "")}), "Progressing"},
  -- spec.deployments: a deployment under verification holds a sync; a regression degrades.
  {"deployment verifying", guard(1, 1, {cond("Ready", "True", "Guarded", "5/5 controls in sync"),
                                        cond("DeploymentVerified", "Unknown", "Verifying",
                                             "verifying d2 for 25 more minute(s)")}),
   "Progressing", "DeploymentVerified: Verifying: verifying d2 for 25 more minute(s)"},
  {"deployment rolled back", guard(1, 1, {cond("Ready", "True", "Guarded", ""),
                                          cond("DeploymentVerified", "False", "RolledBack",
                                               "rolled back from d2 to d1")}),
   "Degraded", "DeploymentVerified: RolledBack: rolled back from d2 to d1"},
  {"deployment verified", guard(1, 1, {cond("Ready", "True", "Guarded", "5/5 controls in sync"),
                                       cond("DeploymentVerified", "True", "Verified", "d2 held")}),
   "Healthy", "5/5 controls in sync"},
  {"suspended", guard(1, 1, {cond("Ready", "False", "Suspended", "suspend is true"),
                              cond("Stalled", "False", "Suspended", "")}), "Suspended"},
  -- The same script checks AwsAccounts (resource.customizations.health.apigw-guard.dev_AwsAccount).
  {"account ready", account(1, 1, {cond("Ready", "True", "RoleAssumed", "acts in 111122223333"),
                                   cond("Reconciling", "False", "RoleAssumed", ""),
                                   cond("Stalled", "False", "RoleAssumed", "")}),
   "Healthy", "acts in 111122223333"},
  {"account refused", account(1, 1, {cond("Ready", "False", "AssumeRoleFailed", "denied"),
                                     cond("Reconciling", "False", "AssumeRoleFailed", "denied"),
                                     cond("Stalled", "True", "AssumeRoleFailed", "denied")}),
   "Degraded", "AssumeRoleFailed: denied"},
  {"account retrying", account(1, 1, {cond("Ready", "False", "AssumeRoleFailed", "throttled"),
                                      cond("Reconciling", "True", "AssumeRoleFailed", "throttled"),
                                      cond("Stalled", "False", "AssumeRoleFailed", "throttled")}),
   "Progressing"},
  {"account mismatch", account(2, 2, {cond("Ready", "False", "AccountMismatch", "z"),
                                      cond("Stalled", "True", "AccountMismatch", "z")}),
   "Degraded", "AccountMismatch: z"},
  -- And ApiGatewayGuardPolicies (resource.customizations.health.apigw-guard.dev_ApiGatewayGuardPolicy).
  {"policy all guarded", policy(1, 1, {cond("Ready", "True", "AllGuarded",
                                            "3 stage(s) matched, 3 guarded and Ready"),
                                       cond("Reconciling", "False", "AllGuarded", ""),
                                       cond("Stalled", "False", "AllGuarded", "")}),
   "Healthy", "3 stage(s) matched, 3 guarded and Ready"},
  {"policy guards not ready", policy(2, 2, {cond("Ready", "False", "GuardsNotReady",
                                                 "1 of 3 guard(s) not Ready yet"),
                                            cond("Reconciling", "True", "GuardsNotReady",
                                                 "1 of 3 guard(s) not Ready yet"),
                                            cond("Stalled", "False", "GuardsNotReady", "")}),
   "Progressing", "GuardsNotReady: 1 of 3 guard(s) not Ready yet"},
  {"policy discovery denied", policy(1, 1, {
     cond("Ready", "False", "AccessDeniedException", "discovering stages: AccessDeniedException: no"),
     cond("Reconciling", "False", "AccessDeniedException", "discovering stages: AccessDeniedException: no"),
     cond("Stalled", "True", "AccessDeniedException", "discovering stages: AccessDeniedException: no")}),
   "Degraded", "AccessDeniedException: discovering stages: AccessDeniedException: no"},
  {"policy new generation", policy(3, 2, {cond("Ready", "True", "AllGuarded", "")}), "Progressing"},
}

local failed = 0
for _, case in ipairs(cases) do
  local name, obj, want, message = case[1], case[2], case[3], case[4]
  local got = health(obj)
  if got.status ~= want or (message ~= nil and got.message ~= message) then
    failed = failed + 1
    print(("FAIL %s: got %s %q, want %s %q"):format(name, got.status, got.message, want, message or ""))
  end
end
print(("%d passed, %d failed"):format(#cases - failed, failed))
os.exit(failed == 0 and 0 or 1)
