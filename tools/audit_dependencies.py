"""Audit the locked dependencies for known vulnerabilities with pip-audit (PyPI's advisory data).

Exits 1 when a locked package has a known vulnerability. When the advisory data cannot be
reached (no internet, or a registry mirror without PyPI's JSON API), it prints why the audit
was skipped and exits 0: a build must not fail for want of a network it does not need.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

PROBE = "https://pypi.org/pypi/pip/json"


def advisory_data_reachable() -> str | None:
    """None when PyPI's JSON API answers with vulnerability data, else why not."""
    try:
        with urllib.request.urlopen(PROBE, timeout=5) as response:  # noqa: S310 - fixed https URL
            document = json.load(response)
    except Exception as error:  # noqa: BLE001 - any failure means "not reachable", reported below
        return f"{PROBE} unreachable ({type(error).__name__})"
    return None if "vulnerabilities" in document else f"{PROBE} answers without vulnerability data"


def main(locks: Sequence[str]) -> int:
    unreachable = advisory_data_reachable()
    if unreachable:
        print(f"pip-audit skipped: {unreachable}")
        return 0
    audit = Path(sys.executable).parent / "pip-audit"
    requirements = [part for lock in locks for part in ("-r", lock)]
    result = subprocess.run(
        [str(audit), *requirements, "--require-hashes", "--disable-pip", "--vulnerability-service", "pypi",
         "--format", "json", "--progress-spinner", "off"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        print(f"pip-audit skipped: it did not run ({result.stderr.strip()[-300:]})")
        return 0
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    audited = [d for d in dependencies if "skip_reason" not in d]
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fix yet"
            print(f"{dependency['name']} {dependency['version']}: {vuln['id']} (fixed in {fixes})")
    if vulnerable:
        return 1
    if not audited:
        print(f"pip-audit skipped: no advisory data for any of the {len(dependencies)} locked packages")
        return 0
    print(f"pip-audit: no known vulnerabilities in {len(audited)} locked packages")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["requirements-pip.lock", "requirements-dev.lock"]))
