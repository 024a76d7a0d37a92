-- Argo CD health check for apigw-guard.dev's ApiGatewayGuard, ApiGatewayGuardPolicy and AwsAccount,
-- from their kstatus conditions (every kind writes Ready, Reconciling and Stalled). Install the
-- same script in argocd-cm under resource.customizations.health.apigw-guard.dev_ApiGatewayGuard,
-- resource.customizations.health.apigw-guard.dev_ApiGatewayGuardPolicy and
-- resource.customizations.health.apigw-guard.dev_AwsAccount.
local hs = {status = "Progressing", message = "Waiting for apigw-guard to reconcile"}
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= nil
    and obj.status.observedGeneration < obj.metadata.generation then
  hs.message = "Waiting for apigw-guard to see the latest spec"
  return hs
end
local ready, stalled, deployment
for _, condition in ipairs(obj.status.conditions) do
  if condition.type == "Ready" then ready = condition end
  if condition.type == "Stalled" then stalled = condition end
  if condition.type == "DeploymentVerified" then deployment = condition end
end
-- A guard with spec.deployments: its stage's newest deployment under verification is
-- Progressing (a sync waits for it), and one that regressed (rolled back or not) is Degraded.
if ready ~= nil and ready.status == "True" and deployment ~= nil and deployment.status == "False" then
  hs.status = "Degraded"
  hs.message = "DeploymentVerified: " .. (deployment.reason or "") .. ": " .. (deployment.message or "")
elseif ready ~= nil and ready.status == "True" and deployment ~= nil and deployment.status == "Unknown" then
  hs.message = "DeploymentVerified: " .. (deployment.reason or "") .. ": " .. (deployment.message or "")
elseif ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
elseif stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = (stalled.reason or "") .. ": " .. (stalled.message or "")
elseif ready ~= nil and ready.reason == "Suspended" then
  hs.status = "Suspended"
  hs.message = ready.message or ""
elseif ready ~= nil then
  hs.message = (ready.reason or "") .. ": " .. (ready.message or "")
end
return hs
