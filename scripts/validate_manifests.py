"""Offline validation of what users apply: renders deploy/ and the GitOps example overlays with
`kubectl kustomize` and the Helm chart with `helm template` (both from scripts/k8s-tools),
validates every object against the Kubernetes schemas (kubernetes-validate) and every
ApiGatewayGuard, ApiGatewayGuardPolicy and AwsAccount against its generated CRD's schema (a
policy's selector and template too take no unknown field), and checks that the chart
renders the same RBAC rules, security contexts, args, env, probes and resources as the kustomize
base, that its `awsAccounts` value renders the AwsAccounts of examples/accounts.yaml as they are
and its `events.queueUrls` one --events-queue-url each, and that the Grafana dashboard ConfigMaps (deploy/grafana and the chart's) carry
deploy/grafana/apigw-guard-dashboard.json as it is. Each example (a file of examples/ or a
GitOps overlay) must apply on its own to a fresh cluster and beside the others: it brings every
namespace it uses, shares no object with another (but identical Namespaces), and guards no stage
another guards. CEL rules are checked by the Rust tests, not here; tests/it/readme.rs applies the
examples to a real API server.

usage: validate_manifests.py REPO_ROOT TOOLS_BIN   exits non-zero on the first problem
"""

import copy
import json
import pathlib
import subprocess
import sys

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES = "1.33"


def load_all(path):
    with open(path) as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def run(*command):
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def kustomize(tools, directory):
    return run(str(tools / "kubectl"), "kustomize", str(directory))


def helm_template(tools, chart, *sets, set_json=()):
    args = [str(tools / "helm"), "template", "apigw-guard", str(chart), "--namespace", "apigw-guard", "--include-crds"]
    for value in sets:
        args += ["--set", value]
    for value in set_json:
        args += ["--set-json", value]
    return run(*args)


def crd_schemas(root):
    """Each custom kind's schema, from the generated CRDs in crds/."""
    schemas = {}
    for path in sorted((root / "crds").glob("*.yaml")):
        crd = load_all(path)[0]
        if crd["kind"] == "CustomResourceDefinition":
            schemas[crd["spec"]["names"]["kind"]] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schemas


def as_json_schema(schema):
    """The CRD's OpenAPI v3 schema as JSON Schema: `nullable: true` means null is allowed."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if node.pop("nullable", False) and "type" in node:
                node["type"] = [node["type"], "null"]
            node.pop("x-kubernetes-validations", None)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


def validate(obj, schemas, origin):
    name = f"{origin}: {obj['kind']}/{obj['metadata'].get('name')}"
    if obj["kind"] in schemas:
        spec_schema = as_json_schema(schemas[obj["kind"]]["properties"]["spec"])
        jsonschema.validate(obj["spec"], spec_schema)
        extra = set(obj["spec"]) - set(spec_schema["properties"])
        if extra:
            raise ValueError(f"{name}: unknown spec fields {sorted(extra)}")
        if obj["kind"] == "AwsAccount" and "namespace" in obj["metadata"]:
            raise ValueError(f"{name}: an AwsAccount is cluster-scoped and takes no namespace")
        if obj["kind"] == "ApiGatewayGuardPolicy":
            # The API server would prune a misspelled selector or template field silently.
            for part in ("selector", "template"):
                extra = set(obj["spec"].get(part) or {}) - set(spec_schema["properties"][part]["properties"])
                if extra:
                    raise ValueError(f"{name}: unknown spec.{part} fields {sorted(extra)}")
    elif obj["apiVersion"].startswith("monitoring.coreos.com/"):
        # The Prometheus Operator's CRDs are not part of Kubernetes; nothing to check against.
        print(f"skipped (no schema offline) {name}")
        return
    else:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)
    print(f"valid {name}")


def by_kind(objects):
    return {(obj["kind"], obj["metadata"]["name"].replace("apigw-guard", "NAME")): obj for obj in objects}


def what_matters(obj):
    """The parts of an object whose drift between chart and base would change behaviour."""
    kind = obj["kind"]
    if kind in ("ClusterRole", "Role"):
        return obj["rules"]
    if kind in ("ClusterRoleBinding", "RoleBinding"):
        return [obj["roleRef"]["kind"], [(s["kind"], s.get("namespace")) for s in obj["subjects"]]]
    if kind == "Deployment":
        pod = obj["spec"]["template"]["spec"]
        container = pod["containers"][0]
        return {
            "replicas": obj["spec"]["replicas"],
            "podSecurityContext": pod["securityContext"],
            "securityContext": container["securityContext"],
            "args": container["args"],
            "env": [e["name"] for e in container["env"]],
            "ports": container["ports"],
            "probes": [container["livenessProbe"], container["readinessProbe"]],
            "resources": container["resources"],
        }
    if kind == "Service":
        return obj["spec"]["ports"]
    if kind == "CustomResourceDefinition":
        return obj["spec"]
    return None


def check_dashboards(root, base_chart, grafana_sources):
    """Each Grafana dashboard ConfigMap carries the dashboard file as it is, with the sidecar's
    label, and the chart renders none unless asked to."""
    dashboard = root / "deploy" / "grafana" / "apigw-guard-dashboard.json"
    text = dashboard.read_text()
    if json.loads(text)["uid"] != "apigw-guard":
        raise SystemExit(f"{dashboard} has uid {json.loads(text)['uid']!r}, expected 'apigw-guard'")
    chart_copy = root / "deploy" / "helm" / "apigw-guard" / "dashboards" / "apigw-guard.json"
    if chart_copy.read_bytes() != dashboard.read_bytes():
        raise SystemExit(f"{chart_copy} differs from {dashboard}: copy it over")
    if any(obj["kind"] == "ConfigMap" for obj in base_chart):
        raise SystemExit("the chart renders a dashboard ConfigMap without grafanaDashboard.enabled")
    for origin, objects, namespace in grafana_sources:
        maps = [obj for obj in objects if obj["kind"] == "ConfigMap"]
        if len(maps) != 1:
            raise SystemExit(f"{origin} renders {len(maps)} ConfigMaps, expected the dashboard's")
        metadata, data = maps[0]["metadata"], maps[0].get("data", {})
        if metadata.get("labels", {}).get("grafana_dashboard") != "1":
            raise SystemExit(f"{origin}: the dashboard ConfigMap lacks grafana_dashboard: \"1\": {metadata}")
        if (metadata["name"], metadata.get("namespace")) != ("apigw-guard-dashboard", namespace):
            raise SystemExit(f"{origin}: the dashboard ConfigMap is {metadata.get('namespace')}/{metadata['name']}")
        if data != {"apigw-guard.json": text}:
            raise SystemExit(f"{origin}: the dashboard ConfigMap does not carry {dashboard} as it is")
    return len(grafana_sources)


def check_accounts(base_chart, all_values, accounts):
    """The chart renders no AwsAccount by default, and each of `awsAccounts` with its spec as
    given, cluster-scoped; the Deployment passes --own-identity-namespaces as set."""
    if any(obj["kind"] == "AwsAccount" for obj in base_chart):
        raise SystemExit("the chart renders an AwsAccount without awsAccounts")
    rendered = {obj["metadata"]["name"]: obj for obj in all_values if obj["kind"] == "AwsAccount"}
    names = sorted(obj["metadata"]["name"] for obj in accounts)
    if sorted(rendered) != names:
        raise SystemExit(f"the chart renders AwsAccounts {sorted(rendered)}, not examples/accounts.yaml's {names}")
    for obj in accounts:
        if rendered[obj["metadata"]["name"]]["spec"] != obj["spec"]:
            raise SystemExit(f"the chart renders AwsAccount {obj['metadata']['name']} as "
                             f"{rendered[obj['metadata']['name']]['spec']}, not {obj['spec']}")
    args = next(obj for obj in all_values if obj["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    if "--own-identity-namespaces=team=platform" not in args:
        raise SystemExit(f"the chart passes {args}, without ownIdentityNamespaces")


def check_events(base_chart, all_values, queue_urls):
    """The chart passes no --events-queue-url by default, and one per `events.queueUrls` item,
    in order."""
    def args(objects):
        deployment = next(obj for obj in objects if obj["kind"] == "Deployment")
        return deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    if any(arg.startswith("--events-queue-url") for arg in args(base_chart)):
        raise SystemExit(f"the chart passes {args(base_chart)}, with a queue without events.queueUrls")
    passed = [arg for arg in args(all_values) if arg.startswith("--events-queue-url")]
    if passed != [f"--events-queue-url={url}" for url in queue_urls]:
        raise SystemExit(f"the chart passes {passed}, not events.queueUrls {queue_urls}")


def check_examples(examples):
    """examples: (origin, objects) each. Returns how many objects were checked."""
    seen, stages, checked = {}, {}, 0
    for origin, objects in examples:
        namespaces = {obj["metadata"]["name"] for obj in objects if obj["kind"] == "Namespace"}
        for obj in objects:
            meta = obj["metadata"]
            namespace = meta.get("namespace")
            if obj["kind"] in ("ApiGatewayGuard", "ApiGatewayGuardPolicy") and namespace not in namespaces:
                raise SystemExit(f"{origin}: {obj['kind']} {meta['name']} is in namespace {namespace!r}, "
                                 f"which the example does not bring: it fails on a fresh cluster")
            key = (obj["kind"], namespace, meta["name"])
            if key in seen and (obj["kind"] != "Namespace" or seen[key][1] != obj):
                raise SystemExit(f"{origin} and {seen[key][0]} both define {key}: applying one changes the other")
            seen.setdefault(key, (origin, obj))
            if obj["kind"] == "ApiGatewayGuard":
                spec = obj["spec"]
                api = {kind: spec[kind] for kind in ("restApi", "httpApi") if kind in spec}
                stage = (spec.get("account"), spec.get("region"), json.dumps(api, sort_keys=True), spec["stage"])
                if stage in stages:
                    raise SystemExit(f"{origin} and {stages[stage]} guard one stage {stage}: beside each other one is Conflict")
                stages[stage] = origin
            checked += 1
    return checked


def main():
    root = pathlib.Path(sys.argv[1]).resolve()
    tools = pathlib.Path(sys.argv[2]).resolve()
    schemas = crd_schemas(root)
    chart = root / "deploy" / "helm" / "apigw-guard"
    base = kustomize(tools, root / "deploy")
    rendered = helm_template(tools, chart)
    # The example's AwsAccounts as the chart's awsAccounts value: name plus spec.
    accounts = [obj for obj in load_all(root / "examples" / "accounts.yaml") if obj["kind"] == "AwsAccount"]
    account_values = [{"name": obj["metadata"]["name"], **obj["spec"]} for obj in accounts]
    queue_urls = ["https://sqs.us-east-1.amazonaws.com/123456789012/apigw-guard-events",
                  "https://sqs.eu-west-1.amazonaws.com/123456789012/apigw-guard-events"]
    all_values = helm_template(
        tools, chart, "watchNamespace=payments", "aws.roleArn=arn:aws:iam::123456789012:role/g",
        "serviceMonitor.enabled=true", "image.tag=1.2.3", "grafanaDashboard.enabled=true",
        "grafanaDashboard.namespace=monitoring", "grafanaDashboard.labels.team=1",
        "grafanaDashboard.annotations.grafana_folder=AWS", "ownIdentityNamespaces=team=platform",
        set_json=[f"awsAccounts={json.dumps(account_values)}", f"events.queueUrls={json.dumps(queue_urls)}"])
    grafana_sources = [
        ("deploy/grafana/", kustomize(tools, root / "deploy" / "grafana"), "apigw-guard"),
        ("helm (grafanaDashboard.enabled)", helm_template(tools, chart, "grafanaDashboard.enabled=true"), "apigw-guard"),
        ("helm (all values set)", all_values, "monitoring"),
    ]
    sources = [
        ("deploy/", base),
        ("deploy/monitoring/", kustomize(tools, root / "deploy" / "monitoring")),
        ("helm", rendered),
        ("helm (all values set)", all_values),
        grafana_sources[0][:2],
        grafana_sources[1][:2],
        ("examples/gitops/overlays/staging", kustomize(tools, root / "examples/gitops/overlays/staging")),
        ("examples/gitops/overlays/prod", kustomize(tools, root / "examples/gitops/overlays/prod")),
    ]
    examples = [(str(path.relative_to(root)), load_all(path)) for path in sorted((root / "examples").glob("*.yaml"))]
    examples += [source for source in sources if source[0].startswith("examples/")]
    sources += examples[:-2]
    checked = 0
    for origin, objects in sources:
        for obj in objects:
            validate(obj, schemas, origin)
            checked += 1

    expected = sorted(["CustomResourceDefinition"] * 3 + ["Namespace", "ServiceAccount",
                       "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "Service"])
    if sorted(obj["kind"] for obj in base) != expected:
        raise SystemExit(f"deploy/ renders {sorted(obj['kind'] for obj in base)}, expected {expected}")
    base_objects, chart_objects = by_kind(base), by_kind(rendered)
    for key, obj in base_objects.items():
        if key[0] == "Namespace":
            continue  # Helm installs into a namespace it does not own
        if key not in chart_objects:
            raise SystemExit(f"the chart renders no {key}")
        if what_matters(obj) != what_matters(chart_objects[key]):
            raise SystemExit(
                f"the chart and deploy/ differ for {key}:\n"
                f"{json.dumps(what_matters(chart_objects[key]), indent=1)}\nvs\n{json.dumps(what_matters(obj), indent=1)}"
            )
    prod = next(obj for obj in kustomize(tools, root / "examples/gitops/overlays/prod") if obj["kind"] == "ApiGatewayGuard")
    if prod["metadata"]["namespace"] != "checkout" or prod["spec"]["stage"] != "prod":
        raise SystemExit(f"the prod overlay renders {prod['metadata']} {prod['spec']}")
    examples_checked = check_examples(examples)
    check_accounts(rendered, all_values, accounts)
    check_events(rendered, all_values, queue_urls)
    dashboards = check_dashboards(root, rendered, grafana_sources)
    print(json.dumps({"objects validated": checked, "example objects side by side": examples_checked, "chart matches deploy/": len(base_objects) - 1,
                      "dashboard ConfigMaps match deploy/grafana/": dashboards}))


if __name__ == "__main__":
    main()
