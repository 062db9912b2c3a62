#!/usr/bin/env python3
"""Validates flagd flag documents against the official flagd JSON Schema.

Usage: validate_flagd.py FILE...

Each FILE holds one flagd document (`{"$schema": ..., "flags": {...}}`) as JSON, or a JSON list
of them. The schema is flags.json (draft-07) from open-feature/flagd-schemas, with its
`./targeting.json` reference resolved locally, read from `$STRATA_API_SPECS/flagd/`
(default: `<workspace>/../shared/api-specs`).

flagd itself also checks what the schema cannot express; so does this script: every
`defaultVariant` must be a declared variant (flagd refuses to load the file otherwise).

Exit status 0 when every document is valid, 1 otherwise (each problem printed), 2 on usage or
setup errors.
"""
import json
import os
import sys
from pathlib import Path


def specs_dir() -> Path:
    env = os.environ.get("STRATA_API_SPECS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "api-specs"


def load_validator():
    try:
        import jsonschema
        from referencing import Registry, Resource
    except ImportError as e:  # pragma: no cover - setup problem
        print(f"missing Python package: {e.name}; run: .venv/bin/pip install -r tests/validate/requirements.txt",
              file=sys.stderr)
        sys.exit(2)
    flagd = specs_dir() / "flagd"
    try:
        flags_schema = json.loads((flagd / "flags.json").read_text())
        targeting_schema = json.loads((flagd / "targeting.json").read_text())
    except OSError as e:
        print(f"cannot read the flagd schemas in {flagd}: {e}; set STRATA_API_SPECS", file=sys.stderr)
        sys.exit(2)
    registry = Registry().with_resources([
        (flags_schema["$id"], Resource.from_contents(flags_schema)),
        (targeting_schema["$id"], Resource.from_contents(targeting_schema)),
    ])
    cls = jsonschema.validators.validator_for(flags_schema)
    cls.check_schema(flags_schema)
    # Draft 7 ignores `$id` beside `$ref` (flags.json's root has both), so enter the schema
    # through its URI: `./targeting.json` then resolves against it.
    return cls({"$ref": flags_schema["$id"]}, registry=registry)


def problems(validator, doc, where):
    out = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        path = "/".join(str(p) for p in err.absolute_path)
        out.append(f"{where}: /{path}: {err.message[:300]}")
    flags = doc.get("flags") if isinstance(doc, dict) else None
    if isinstance(flags, dict):
        for key, flag in flags.items():
            if not isinstance(flag, dict):
                continue
            default = flag.get("defaultVariant")
            variants = flag.get("variants") or {}
            if default is not None and default not in variants:
                out.append(f"{where}: /flags/{key}: defaultVariant {default!r} is not a variant")
    return out


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    validator = load_validator()
    found = []
    count = 0
    for name in argv[1:]:
        data = json.loads(Path(name).read_text())
        docs = data if isinstance(data, list) else [data]
        for i, doc in enumerate(docs):
            count += 1
            found.extend(problems(validator, doc, f"{name}[{i}]"))
    for p in found:
        print(p)
    print(f"{count} flagd document(s) checked, {len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
