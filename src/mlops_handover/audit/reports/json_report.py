"""The JSON report: everything, for scripts and dashboards, in a versioned schema
(docs/audit-report.schema.json)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mlops_handover import __version__
from mlops_handover.audit.engine import Report
from mlops_handover.audit.model import CheckResult, level_name
from mlops_handover.audit.reports.common import overall_level

#: Bumped on any incompatible change of the JSON report (docs/audit-report.schema.json).
SCHEMA_VERSION = "1"


def check_json(item: CheckResult) -> dict[str, Any]:
    check, result = item.check, item.result
    return {
        "pillar": check.pillar.value,
        "severity": check.severity.value,
        "level": check.level,
        "title": check.title(),
        "outcome": item.outcome.value,
        "score": result.score,
        "message": result.message,
        "evidence": list(result.evidence),
        "evidence_sources": list(item.evidence_sources),
        "locations": [{"path": p, "line": line} for p, line in result.locations],
        "waiver": item.waiver,
        "url": check.url(),
    }


def report_json(report: Report) -> dict[str, Any]:
    return {
        "path": report.path,
        "error": report.error,
        "level": report.level,
        "level_name": level_name(report.level),
        "fail_under": report.fail_under,
        "started": report.started,
        "duration_s": round(report.duration, 3),
        "git": {
            "commit": report.commit,
            "branch": report.branch,
            "dirty": report.dirty,
            "remote": report.remote,
        },
        "config": report.config_source,
        "problems": report.problems,
        "counts": report.counts(),
        "pillars": [
            {
                "name": p.pillar.value,
                "score": None if p.score is None else round(p.score, 3),
                "level": p.level,
                "blockers": p.blockers,
            }
            for p in report.pillars
        ],
        "checks": {item.check.id(): check_json(item) for item in report.results},
    }


def to_json(reports: Sequence[Report], fail_under: int | None = None) -> str:
    document = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "mlops-handover", "version": __version__},
        "level": overall_level(reports),
        "level_name": level_name(overall_level(reports)),
        "fail_under": fail_under,
        "repositories": [report_json(r) for r in reports],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
