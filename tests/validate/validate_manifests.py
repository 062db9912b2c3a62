#!/usr/bin/env python3
"""Validates Kubernetes manifests against the official schemas.

Usage: validate_manifests.py [--k8s-version 1.33] [--allow-default-namespace] FILE...

Each FILE holds manifests as multi-document YAML, a JSON list, or a single object (`kind: List`
objects are unpacked). FILE `-` reads standard input.

* Core kinds (Deployment, Service, Namespace, ...) are validated with the PyPI package
  `kubernetes-validate` in strict mode (unknown fields are errors) for the Kubernetes version
  given by --k8s-version or $STRATA_K8S_VERSION (default 1.33).
* Custom kinds are validated against the `openAPIV3Schema` of the CustomResourceDefinition that
  serves their group/version/kind, found among every CRD under $STRATA_API_SPECS (default
  `<workspace>/../shared/api-specs`). The CRD schema is read as the API server reads it:
  `nullable`, `x-kubernetes-int-or-string`, and unknown fields rejected where the schema does
  not preserve them (what server-side apply with strict field validation does). CEL rules
  (`x-kubernetes-validations`) are not evaluated. `metadata` is checked against ObjectMeta.
* Every object needs `metadata.name`; namespaced kinds need `metadata.namespace` (strata never
  relies on a kubeconfig's default namespace; --allow-default-namespace lifts this) and
  cluster-scoped kinds must not have one.

Each object is reported on its own line, `ok` or `FAIL` with the reason. An object whose kind
has no schema (neither core nor a known CRD, or a version the CRD does not serve) is a failure,
never skipped. Exit status: 0 when every object is valid, 1 when any is not (or there were
none), 2 on usage or setup errors.
"""
import argparse
import copy
import json
import os
import re
import sys
from pathlib import Path

try:
    import jsonschema
    import kubernetes_validate
    import yaml
except ImportError as e:  # pragma: no cover - setup problem
    sys.stderr.write(
        f"missing Python package ({e.name}). Set up the validators from the workspace root with:\n"
        "  python3 -m venv .venv && .venv/bin/pip install -r tests/validate/requirements.txt\n"
    )
    sys.exit(2)


class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """SafeLoader that reads a bare `=` as the string "=" (YAML 1.2), not the YAML 1.1 `value`
    tag PyYAML rejects (the prometheus-operator AlertmanagerConfig CRD has `- =`)."""


Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

# Built-in kinds that are not namespaced, as (group, kind).
CLUSTER_SCOPED_CORE = {
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("", "ComponentStatus"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("node.k8s.io", "RuntimeClass"),
    ("networking.k8s.io", "IngressClass"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
}


def specs_dir() -> Path:
    env = os.environ.get("STRATA_API_SPECS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "api-specs"


def split_api_version(api_version: str):
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


# ---------------------------------------------------------------------------------------------
# CRDs


GO_INLINE_FLAGS = re.compile(r"\(\?([imsU]+)\)")


def go_regex(pattern: str) -> str:
    """Go (RE2) patterns as Python's `re` reads them. RE2 allows inline flags anywhere, scoped to
    the rest of the enclosing group (`((?i)may|june)` in the AlertmanagerConfig CRD); Python
    only at the start of the pattern, so a flag group right after `(` becomes a scoped group
    `((?i:may|june))`, and `^(?i)x` becomes `(?i)^x`."""
    out = pattern
    while True:
        m = GO_INLINE_FLAGS.search(out)
        if m is None or m.start() == 0:
            return out
        if out[: m.start()] == "^":
            # `^(?i)...`: the flag applies to the whole pattern, which Python writes first.
            return m.group(0) + "^" + out[m.end() :]
        if out[m.start() - 1] != "(":
            return out  # no other form occurs in the CRDs in use; left for `re` to judge
        depth, i = 1, m.end()
        while i < len(out) and depth:
            c = out[i]
            if c == "\\":
                i += 2
                continue
            depth += {"(": 1, ")": -1}.get(c, 0)
            i += 1
        end = i - 1  # the `)` closing the enclosing group
        out = out[: m.start()] + f"(?{m.group(1)}:" + out[m.end() : end] + ")" + out[end:]


def structural(schema, top=False, in_branch=False):
    """Returns the CRD schema as JSON Schema (draft 4) with the API server's reading."""
    if isinstance(schema, list):
        return [structural(s, in_branch=in_branch) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: structural(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, (dict, list)):
            out[key] = structural(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [structural(v, in_branch=True) for v in value]
        elif key == "not":
            out[key] = structural(value, in_branch=True)
        elif key.startswith("x-kubernetes-") or key in ("nullable", "format", "description", "example"):
            continue
        elif key == "pattern" and isinstance(value, str):
            out[key] = go_regex(value)
        else:
            out[key] = value
    if schema.get("x-kubernetes-int-or-string") and "anyOf" not in out and "type" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable"):
        if "type" in out:
            t = out["type"]
            out["type"] = (t if isinstance(t, list) else [t]) + ["null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = list(out["enum"]) + [None]
    if top:
        props = out.setdefault("properties", {})
        for k in ("apiVersion", "kind"):
            props.setdefault(k, {"type": "string"})
        props["metadata"] = {"type": "object"}  # checked against ObjectMeta separately
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") or schema.get("x-kubernetes-embedded-resource")
    if (
        not in_branch
        and not preserve
        and "properties" in out
        and "additionalProperties" not in out
        and out.get("type") in ("object", ["object", "null"])
    ):
        out["additionalProperties"] = False
    return out


def load_crds(root: Path):
    """Indexes every CRD under root: (group, version, kind) -> entry."""
    index = {}
    problems = []
    files = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    for path in files:
        try:
            docs = list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=Loader))
        except yaml.YAMLError as e:
            problems.append(f"{path}: not readable as YAML ({str(e).splitlines()[0]})")
            continue
        for doc in docs:
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc.get("spec", {})
            group = spec.get("group", "")
            kind = spec.get("names", {}).get("kind", "")
            for v in spec.get("versions", []):
                schema = (v.get("schema") or {}).get("openAPIV3Schema")
                index[(group, v["name"], kind)] = {
                    "schema": schema,
                    "served": v.get("served", False),
                    "deprecated": v.get("deprecated", False),
                    "scope": spec.get("scope", "Namespaced"),
                    "file": str(path.relative_to(root)),
                }
    return index, problems


# ---------------------------------------------------------------------------------------------
# Validation


def error_text(e: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in e.absolute_path) or "(top level)"
    return f"{where}: {e.message}"


class Validator:
    def __init__(self, k8s_version: str, crds: dict, allow_default_namespace: bool):
        self.k8s_version = k8s_version
        self.crds = crds
        self.allow_default_namespace = allow_default_namespace
        self.cache = {}
        self.object_meta = self._object_meta()

    def _object_meta(self):
        """A validator of ObjectMeta from kubernetes-validate's strict definitions."""
        pkg = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
        want = kubernetes_validate.utils.major_minor(self.k8s_version)
        candidates = []
        for d in pkg.iterdir():
            m = re.match(r"^v(\d+)\.(\d+)\.\d+-local-strict$", d.name)
            if m and (int(m.group(1)), int(m.group(2))) <= tuple(int(x) for x in want.split(".")):
                candidates.append(((int(m.group(1)), int(m.group(2))), d))
        if not candidates:
            raise SystemExit(f"kubernetes-validate has no schemas for Kubernetes {self.k8s_version}")
        defs = json.loads((max(candidates)[1] / "_definitions.json").read_text())
        meta = copy.deepcopy(defs["$defs"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"])
        return jsonschema.Draft202012Validator({"$defs": defs["$defs"], **meta})

    def crd_validator(self, key):
        if key not in self.cache:
            schema = structural(self.crds[key]["schema"], top=True)
            jsonschema.Draft4Validator.check_schema(schema)
            self.cache[key] = jsonschema.Draft4Validator(schema)
        return self.cache[key]

    def validate(self, obj) -> list:
        """Problems with one object (empty when valid)."""
        if not isinstance(obj, dict):
            return [f"not an object but {type(obj).__name__}"]
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            return ["needs string `apiVersion` and `kind`"]
        group, version = split_api_version(api_version)
        meta = obj.get("metadata")
        if not isinstance(meta, dict) or not meta.get("name"):
            return ["needs `metadata.name`"]
        problems = []
        name = meta["name"]
        if not isinstance(name, str) or len(name) > 253 or not DNS_SUBDOMAIN.match(name):
            problems.append(f"metadata.name: `{name}` is not a valid object name (DNS subdomain)")
        crd = self.crds.get((group, version, kind))
        if crd is not None:
            scope_namespaced = crd["scope"] == "Namespaced"
            if not crd["served"]:
                return problems + [f"{group}/{version} {kind} is not served by its CRD ({crd['file']})"]
            if crd["schema"] is None:
                return problems + [f"the CRD for {group}/{version} {kind} has no openAPIV3Schema"]
            for e in sorted(self.crd_validator((group, version, kind)).iter_errors(obj), key=str):
                problems.append(error_text(e))
        else:
            other = sorted(f"{g}/{v}" for (g, v, k) in self.crds if k == kind and (g == group or not group))
            try:
                kubernetes_validate.validate(obj, self.k8s_version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                hint = f" (CRDs serve {kind} as {', '.join(other)})" if other else ""
                return problems + [
                    f"unknown kind {api_version} {kind}: neither a core kind of Kubernetes "
                    f"{self.k8s_version} nor a CRD under the API specs{hint}"
                ]
            except kubernetes_validate.ValidationError as e:
                problems.append(error_text(e))
            scope_namespaced = (group, kind) not in CLUSTER_SCOPED_CORE
        for e in self.object_meta.iter_errors(meta):
            problems.append("metadata." + error_text(e))
        ns = meta.get("namespace")
        if scope_namespaced and not ns and not self.allow_default_namespace:
            problems.append("metadata.namespace: a namespaced object must name its namespace")
        if not scope_namespaced and ns is not None:
            problems.append(f"metadata.namespace: {kind} is cluster-scoped and takes no namespace")
        if ns is not None and not (isinstance(ns, str) and DNS_LABEL.match(ns)):
            problems.append(f"metadata.namespace: `{ns}` is not a valid namespace name")
        return problems


def read_objects(arg: str) -> list:
    text = sys.stdin.read() if arg == "-" else Path(arg).read_text(encoding="utf-8")
    out = []

    def add(doc):
        if doc is None:
            return
        if isinstance(doc, list):
            for d in doc:
                add(d)
        elif isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            for d in doc["items"]:
                add(d)
        else:
            out.append(doc)

    for doc in yaml.load_all(text, Loader=Loader):
        add(doc)
    return out


def describe(obj) -> str:
    if not isinstance(obj, dict):
        return repr(obj)[:60]
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('apiVersion')} {obj.get('kind')} {where}{meta.get('name')}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--k8s-version", default=os.environ.get("STRATA_K8S_VERSION", "1.33"))
    parser.add_argument("--allow-default-namespace", action="store_true")
    args = parser.parse_args(argv)

    root = specs_dir()
    if not root.is_dir():
        sys.stderr.write(
            f"API specs not found at {root}: set STRATA_API_SPECS to the api-specs directory "
            "(shared/api-specs beside the checkout)\n"
        )
        return 2
    crds, problems = load_crds(root)
    for p in problems:
        sys.stderr.write(f"warning: {p}\n")
    if not crds:
        sys.stderr.write(f"no CustomResourceDefinition found under {root}\n")
        return 2
    validator = Validator(args.k8s_version, crds, args.allow_default_namespace)

    failed = total = 0
    for f in args.files:
        try:
            objects = read_objects(f)
        except (OSError, yaml.YAMLError) as e:
            print(f"FAIL {f}: cannot read: {e}")
            failed += 1
            continue
        for obj in objects:
            total += 1
            errors = validator.validate(obj)
            if errors:
                failed += 1
                print(f"FAIL {describe(obj)}")
                for e in errors:
                    print(f"     {e}")
            else:
                print(f"ok   {describe(obj)}")
    if total == 0:
        print("FAIL no objects to validate")
        return 1
    print(f"{total - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
