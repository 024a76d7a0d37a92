"""Offline validation of what users apply: renders the kustomizations (deploy/, the GitOps
example overlays) the way `kubectl kustomize` does for the features they use, then validates
every object against the Kubernetes schemas (kubernetes-validate) and every ApiGatewayGuard
against the generated CRD's schema. CEL rules are checked by the Rust tests, not here.

usage: validate_manifests.py [REPO_ROOT]   exits non-zero on the first invalid object
"""

import copy
import json
import pathlib
import sys

import jsonpatch
import jsonschema
import kubernetes_validate
import yaml

KUBERNETES = "1.33"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


def load_all(path):
    with open(path) as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def render(directory):
    """The objects a kustomization yields: resources (files or bases), JSON6902 patches with
    a kind/name target, and the namespace transformer."""
    directory = pathlib.Path(directory)
    kustomization = load_all(directory / "kustomization.yaml")[0]
    objects = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        objects.extend(render(path) if path.is_dir() else load_all(path))
    for patch in kustomization.get("patches", []):
        target = patch["target"]
        operations = jsonpatch.JsonPatch(yaml.safe_load(patch["patch"]))
        for index, obj in enumerate(objects):
            if obj["kind"] == target.get("kind") and obj["metadata"]["name"] == target.get("name"):
                objects[index] = operations.apply(obj)
    namespace = kustomization.get("namespace")
    if namespace:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = namespace
            for subject in obj.get("subjects", []):
                if subject.get("kind") == "ServiceAccount":
                    subject["namespace"] = namespace
    return objects


def crd_schema(root):
    crd = load_all(root / "crds" / "apigatewayguard.yaml")[0]
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


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


def validate(obj, guard_schema, origin):
    name = f"{origin}: {obj['kind']}/{obj['metadata'].get('name')}"
    if obj["kind"] == "ApiGatewayGuard":
        spec_schema = as_json_schema(guard_schema["properties"]["spec"])
        jsonschema.validate(obj["spec"], spec_schema)
        extra = set(obj["spec"]) - set(spec_schema["properties"])
        if extra:
            raise ValueError(f"{name}: unknown spec fields {sorted(extra)}")
    elif obj["apiVersion"].startswith("monitoring.coreos.com/"):
        # The Prometheus Operator's CRDs are not part of Kubernetes; nothing to check against.
        print(f"skipped (no schema offline) {name}")
        return
    else:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)
    print(f"valid {name}")


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    guard_schema = crd_schema(root)
    checked = 0
    sources = [
        ("deploy/", render(root / "deploy")),
        ("deploy/monitoring/", render(root / "deploy" / "monitoring")),
        ("examples/gitops/overlays/staging", render(root / "examples/gitops/overlays/staging")),
        ("examples/gitops/overlays/prod", render(root / "examples/gitops/overlays/prod")),
    ]
    sources += [(str(path.relative_to(root)), load_all(path)) for path in sorted((root / "examples").glob("*.yaml"))]
    for origin, objects in sources:
        for obj in objects:
            validate(obj, guard_schema, origin)
            checked += 1
    deploy_kinds = sorted(obj["kind"] for obj in sources[0][1])
    expected = sorted(
        ["CustomResourceDefinition", "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
         "Role", "RoleBinding", "Deployment", "Service"]
    )
    if deploy_kinds != expected:
        raise SystemExit(f"deploy/ renders {deploy_kinds}, expected {expected}")
    print(json.dumps({"objects validated": checked}))


if __name__ == "__main__":
    main()
