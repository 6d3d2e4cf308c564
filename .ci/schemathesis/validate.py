"""Validate an OpenAPI 3.1 document: validate.py PATH_TO_openapi.json

Runs openapi-spec-validator's OpenAPI 3.1 validator and prints every error it finds (not only the
first), then the document's size. Exits 1 when the document is invalid.
"""

from __future__ import annotations

import json
import sys

from openapi_spec_validator import OpenAPIV31SpecValidator


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as fd:
        document = json.load(fd)
    if not str(document.get("openapi", "")).startswith("3.1"):
        print(f"openapi: expected a 3.1 document, got {document.get('openapi')!r}")
        return 1
    errors = list(OpenAPIV31SpecValidator(document).iter_errors())
    operations = sum(
        1
        for item in document.get("paths", {}).values()
        for method in item
        if method in {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    )
    for error in errors:
        print(f"openapi: INVALID: {error.message}")
    print(f"openapi: {operations} operations, {len(errors)} validation error(s) (OpenAPI 3.1, openapi-spec-validator)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
