"""Checks on security: secrets and credentials, large files in history, CI workflow hygiene,
branch protection and the licence and security policy."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

from mlops_handover.audit.config import AuditConfig
from mlops_handover.audit.dvc import DvcProject
from mlops_handover.audit.fixtures import (
    NETWORK_TIMEOUT,
    AuditOptions,
    CiWorkflow,
    GitRepo,
    ProjectFiles,
)
from mlops_handover.audit.history import GitHubAccess, History, Secret
from mlops_handover.audit.model import (
    Check,
    Pillar,
    Result,
    Severity,
    failed,
    not_applicable,
    partial,
    passed,
    unknown,
)

#: How many findings a message names before "and N more".
SHOWN = 5


def _listing(items: list[str], shown: int = SHOWN) -> str:
    more = len(items) - shown
    return "; ".join(items[:shown]) + (f"; and {more} more" if more > 0 else "")


def _line_of(text: str, needle: str, start: int = 0) -> int | None:
    index = text.find(needle, start)
    return text.count("\n", 0, index) + 1 if index >= 0 else None


# --- RP108 ---------------------------------------------------------------------------------


class RP108(Check):
    """No data or model binaries in git

    Git keeps every version of every file forever: a model or data file committed once makes
    every clone slower and bigger even after it is deleted, and model binaries in git bypass
    the registry that says which version is the champion. Data and models belong in DVC (or
    the MLflow registry); git keeps only the small `.dvc` pointer files.

    Fix: `git rm --cached PATH`, then `dvc add PATH` and commit the `.dvc` file. To remove a
    large blob from history, rewrite it with `git filter-repo --strip-blobs-bigger-than 10M`
    (coordinate with everyone who cloned). The limit is the `max-file-size-mb` threshold in
    `[tool.handover.audit.thresholds]`.
    """

    pillar = Pillar.REPRODUCE
    severity = Severity.HIGH
    level = 1

    def check(self, history: History, config: AuditConfig) -> Result:
        limit_mb = config.threshold("max-file-size-mb")
        large = history.large_blobs()
        binaries, lfs = history.model_binaries()
        problems, locations = [], []
        for blob in large:
            where = f"{blob.path or 'blob ' + blob.oid[:10]} ({blob.megabytes:.1f} MB"
            where += f", commit {blob.commit})" if blob.commit else ")"
            problems.append(where)
            locations.append((blob.path or blob.oid, None))
        for path in binaries:
            if path not in {b.path for b in large}:
                problems.append(f"{path} (model binary)")
                locations.append((path, None))
        note = f"; {len(lfs)} model file(s) stored with Git LFS" if lfs else ""
        if problems:
            return failed(
                f"{len(large)} blob(s) over {limit_mb:g} MB in history and {len(binaries)} "
                f"tracked model binary file(s): {_listing(problems)}{note}",
                "git cat-file --batch-all-objects",
                "git ls-files",
                locations=tuple(locations),
            )
        return passed(
            f"no blob over {limit_mb:g} MB in history and no tracked model binary "
            f"({len(history.tracked)} tracked files){note}",
            "git cat-file --batch-all-objects",
            "git ls-files",
        )


# --- SC501 ---------------------------------------------------------------------------------

_ENV_TEMPLATES = (".example", ".sample", ".template", ".dist", ".defaults")


def _env_file(path: str) -> bool:
    """`.env`, `.env.production`, `prod.env`: environment files (templates excluded)."""
    name = PurePosixPath(path).name.lower()
    if name.endswith(_ENV_TEMPLATES) or "example" in name:
        return False
    return name == ".env" or name.startswith(".env.") or name.endswith(".env")


class SC501(Check):
    """No secrets in the tracked files or the git history, and `.env` is git-ignored

    A secret committed once stays in the history of every clone, even after the file is
    fixed or deleted; a client who takes over the repository takes over the leak. The audit
    scans the tracked files and every earlier version for AWS keys, private keys, GitHub,
    GitLab and Slack tokens, passwords in URLs and `password = "..."` style assignments.

    Fix: rotate the credential first (it is compromised), then remove it from the file and
    read it from the environment or the CI secret store instead. Purge it from history with
    `git filter-repo --replace-text` and force-push, and keep `.env` in `.gitignore`. A false
    positive can be marked on its line with a `handover:allow` comment.
    """

    pillar = Pillar.SECURE
    severity = Severity.CRITICAL
    level = 1

    def check(self, history: History, git: GitRepo, root: Path) -> Result:
        problems: list[str] = []
        locations: list[tuple[str, int | None]] = []
        tracked_env = [p for p in history.tracked if ".env" in p.lower() and _env_file(p)]
        for path in tracked_env:
            problems.append(f"{path} is tracked")
            locations.append((path, None))
        if (root / ".env").is_file() and ".env" not in tracked_env and not git.ignored([".env"]):
            problems.append(".env exists and is not git-ignored")
            locations.append((".env", None))
        tree: list[Secret] = history.tree_secrets
        old: list[Secret] = history.history_secrets()
        findings = [s.describe() for s in tree] + [f"{s.describe()}, in history" for s in old]
        locations += [(s.path, s.line) for s in [*tree, *old]]
        evidence = ("git grep --cached", "git cat-file --batch (history)", ".gitignore")
        if findings or problems:
            counts = [f"{len(tree)} probable secret(s) in tracked files"] if tree else []
            counts += [f"{len(old)} only in history"] if old else []
            parts = [f"{' and '.join(counts)}: {_listing(findings)}"] if findings else []
            message = "; ".join([*parts, *problems])
            return failed(message, *evidence, locations=tuple(locations[:100]))
        scanned = history.history_blobs_scanned
        return passed(
            f"no secret in {len(history.tracked)} tracked files or {scanned} earlier file "
            "version(s); no .env tracked",
            *evidence,
        )


# --- GitHub workflows (SC502-SC504) -------------------------------------------------------


def _workflows(ci: tuple[CiWorkflow, ...], files: ProjectFiles) -> list[tuple[str, Any, str]]:
    """(path, parsed mapping, text) of each GitHub Actions workflow, from the `ci` fixture."""
    return [(w.path, w.data, files.text(w.path)) for w in ci if w.provider == "github"]


def _actions(files: ProjectFiles) -> list[tuple[str, dict[str, Any], str]]:
    """The repository's own composite actions (`.github/actions/*/action.yml`)."""
    found = []
    for path in files.under(".github"):
        if path.endswith(("/action.yml", "/action.yaml")):
            data = files.yaml(path)
            if isinstance(data, dict):
                found.append((path, data, files.text(path)))
    return found


def _jobs(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    jobs = data.get("jobs")
    if not isinstance(jobs, dict):
        return []
    return [(str(name), job) for name, job in jobs.items() if isinstance(job, dict)]


def _steps(container: dict[str, Any]) -> list[dict[str, Any]]:
    steps = container.get("steps")
    if not isinstance(steps, list):
        return []
    return [step for step in steps if isinstance(step, dict)]


def _all_steps(data: dict[str, Any]) -> list[dict[str, Any]]:
    steps = [step for _, job in _jobs(data) for step in _steps(job)]
    runs = data.get("runs")
    if isinstance(runs, dict):  # a composite action
        steps += _steps(runs)
    return steps


def _triggers(data: dict[str, Any]) -> set[str]:
    on = data.get("on", data.get(True))
    if isinstance(on, str):
        return {on}
    if isinstance(on, list | dict):
        return {str(event) for event in on}
    return set()


def _read_only(permissions: Any) -> bool:
    """`read-all`, `{}` or a mapping of read/none scopes: no write access."""
    if isinstance(permissions, str):
        return permissions.strip() in ("read-all", "none")
    if isinstance(permissions, dict):
        return all(str(level).strip() in ("read", "none") for level in permissions.values())
    return False


class SC502(Check):
    """Every GitHub workflow gives its token read-only permissions at the top

    Without a top-level `permissions:` block a workflow's `GITHUB_TOKEN` gets the
    repository's default, often write access to code, packages and releases: one
    compromised action or dependency can then push to the client's repository.

    Fix: add at the top of every workflow

    ```yaml
    permissions:
      contents: read
    ```

    and grant a write scope only to the job that needs it (`jobs.<id>.permissions`).
    """

    pillar = Pillar.SECURE
    severity = Severity.HIGH
    level = 3

    def check(self, ci: tuple[CiWorkflow, ...], files: ProjectFiles) -> Result:
        workflows = _workflows(ci, files)
        if not workflows:
            return not_applicable("no GitHub Actions workflow in .github/workflows")
        bad, locations = [], []
        for path, data, text in workflows:
            permissions = data.get("permissions")
            if "permissions" in data and _read_only(permissions):
                continue
            jobs = _jobs(data)
            if "permissions" not in data and jobs and all("permissions" in j for _, j in jobs):
                continue  # every job scopes its own token
            if "permissions" not in data:
                bad.append(f"{path} has no top-level permissions")
                locations.append((path, 1))
            else:
                bad.append(f"{path} grants {_describe_permissions(permissions)} at the top")
                locations.append((path, _top_level_line(text, "permissions")))
        evidence = tuple(path for path, _, _ in workflows)
        if not bad:
            return passed(
                f"{len(workflows)} workflow(s) with read-only top-level permissions", *evidence
            )
        good = len(workflows) - len(bad)
        message = f"{len(bad)} of {len(workflows)} workflow(s) not least-privilege: {_listing(bad)}"
        if good:
            return partial(good / len(workflows), message, *evidence, locations=tuple(locations))
        return failed(message, *evidence, locations=tuple(locations))


def _describe_permissions(permissions: Any) -> str:
    if isinstance(permissions, dict):
        writes = [f"{k}: {v}" for k, v in permissions.items() if str(v) not in ("read", "none")]
        return ", ".join(writes) or "permissions"
    return str(permissions)


def _top_level_line(text: str, key: str) -> int | None:
    match = re.search(rf"^{re.escape(key)}\s*:", text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else None


#: Event fields an outsider controls (title, body, branch name, commit message, author...).
_UNTRUSTED = re.compile(
    r"\$\{\{[^}]*?\b("
    r"github\.event\.(?:issue\.(?:title|body)|pull_request\.(?:title|body)|comment\.body"
    r"|review\.body|review_comment\.body|discussion\.(?:title|body)"
    r"|pages\.[^}\s]*?\.page_name|commits\.[^}\s]*?\.(?:message|author\.(?:email|name))"
    r"|head_commit\.(?:message|author\.(?:email|name))"
    r"|pull_request\.head\.(?:ref|label|repo\.default_branch)"
    r"|workflow_run\.(?:head_branch|display_title"
    r"|head_commit\.(?:message|author\.(?:email|name))))"
    r"|github\.head_ref)"
)
_PR_HEAD = re.compile(
    r"github\.event\.pull_request\.head|github\.head_ref|github\.event\.workflow_run"
    r"|refs/pull/|github\.event\.pull_request\.merge_commit_sha"
)
_PR_CHECKOUT_COMMAND = re.compile(r"\bgh\s+pr\s+checkout\b|\bgit\s+fetch\b[^\n]*\bpull/")


class SC503(Check):
    """No dangerous workflow patterns: untrusted checkouts or script injection

    Two patterns let anyone who opens a pull request or an issue run code with the
    repository's secrets:

    - a `pull_request_target` (or `workflow_run`) workflow that checks out the pull request's
      head and runs it: the fork's code runs with a write token and the secrets;
    - `${{ github.event.issue.title }}`, `...pull_request.body`, `github.head_ref` and other
      attacker-controlled fields written into a `run:` script, where a crafted title becomes
      a shell command.

    Fix: use `pull_request` for untrusted code. Pass event fields through an environment
    variable and quote it: `env: TITLE: ${{ github.event.issue.title }}` and `run: echo
    "$TITLE"`.
    """

    pillar = Pillar.SECURE
    severity = Severity.CRITICAL
    level = 1

    def check(self, ci: tuple[CiWorkflow, ...], files: ProjectFiles) -> Result:
        workflows = _workflows(ci, files)
        if not workflows:
            return not_applicable("no GitHub Actions workflow in .github/workflows")
        problems, locations = [], []
        for path, data, text in [*workflows, *_actions(files)]:
            privileged = _triggers(data) & {"pull_request_target", "workflow_run"}
            for step in _all_steps(data):
                uses = str(step.get("uses") or "")
                options = step.get("with") if isinstance(step.get("with"), dict) else {}
                run = step.get("run") if isinstance(step.get("run"), str) else ""
                if privileged and uses.startswith("actions/checkout"):
                    ref = str(options.get("ref") or "")
                    if _PR_HEAD.search(ref):
                        trigger = sorted(privileged)[0]
                        problems.append(f"{path}: {trigger} checks out the pull request ({ref})")
                        locations.append((path, _line_of(text, ref)))
                if privileged and run and _PR_CHECKOUT_COMMAND.search(run):
                    problems.append(f"{path}: {sorted(privileged)[0]} fetches the pull request")
                    locations.append((path, _line_of(text, run.strip().splitlines()[0])))
                scripts = [run]
                if uses.startswith("actions/github-script") and isinstance(
                    options.get("script"), str
                ):
                    scripts.append(options["script"])
                for script in scripts:
                    for line in script.splitlines():
                        for match in _UNTRUSTED.finditer(line):
                            problems.append(f"{path}: `{match[1]}` expanded inside a script")
                            locations.append((path, _line_of(text, line.strip())))
        evidence = tuple(path for path, _, _ in workflows)
        if problems:
            return failed(
                f"{len(problems)} dangerous pattern(s): {_listing(problems)}",
                *evidence,
                locations=tuple(locations),
            )
        return passed(
            f"{len(workflows)} workflow(s): no untrusted checkout in a privileged trigger and "
            "no attacker-controlled expression inside a script",
            *evidence,
        )


_SHA = re.compile(r"^[0-9a-f]{40}$")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _pinned(uses: str) -> bool:
    uses = uses.strip()
    if uses.startswith("./"):
        return True
    if uses.startswith("docker://"):
        return _DIGEST.search(uses) is not None
    _, at, ref = uses.rpartition("@")
    return bool(at) and _SHA.match(ref) is not None


class SC504(Check):
    """Every action a workflow uses is pinned to a full commit SHA

    A tag such as `@v4` can be moved by whoever controls the action's repository, so the code
    that runs with the client's secrets can change without any commit in the client's
    repository. A 40-character commit SHA cannot.

    Fix: replace `uses: actions/checkout@v4` with `uses: actions/checkout@<full SHA> # v4.2.2`
    (tools such as `pinact` or `ratchet` do it), pin Docker actions by `@sha256:` digest, and
    let Dependabot or Renovate update the pins. Local actions (`./...`) need no pin.
    """

    pillar = Pillar.SECURE
    severity = Severity.MEDIUM
    level = 3

    def check(self, ci: tuple[CiWorkflow, ...], files: ProjectFiles) -> Result:
        workflows = _workflows(ci, files)
        if not workflows:
            return not_applicable("no GitHub Actions workflow in .github/workflows")
        total, unpinned, locations = 0, [], []
        for path, data, text in [*workflows, *_actions(files)]:
            references = [step.get("uses") for step in _all_steps(data)]
            references += [job.get("uses") for _, job in _jobs(data)]
            for uses in references:
                if not isinstance(uses, str) or not uses.strip():
                    continue
                total += 1
                if not _pinned(uses):
                    unpinned.append(f"{path}: {uses.strip()}")
                    locations.append((path, _line_of(text, uses.strip())))
        evidence = tuple(path for path, _, _ in workflows)
        if not total:
            return passed("the workflows use no actions", *evidence)
        if not unpinned:
            return passed(f"all {total} action reference(s) pinned to a commit SHA", *evidence)
        message = f"{len(unpinned)} of {total} action reference(s) not pinned to a commit SHA: "
        message += _listing(unpinned)
        if len(unpinned) == total:
            return failed(message, *evidence, locations=tuple(locations))
        return partial(1 - len(unpinned) / total, message, *evidence, locations=tuple(locations))


# --- SC505 ---------------------------------------------------------------------------------

_GITHUB_REMOTE = re.compile(
    r"^(?:(?:https?|git|ssh)://(?:[^@/]+@)?(?:www\.)?github\.com(?::\d+)?/"
    r"|(?:[^@/]+@)?github\.com:)"
    r"(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+?)(?:\.git)?/?$"
)


def github_repository(url: str | None) -> tuple[str, str] | None:
    """(owner, repo) of a github.com remote URL, None for any other host."""
    match = _GITHUB_REMOTE.match((url or "").strip())
    return (match["owner"], match["repo"]) if match else None


def _safe_url(url: str) -> str:
    """A remote URL without any credentials in it."""
    return re.sub(r"://[^@/]+@", "://", url)


class _ApiError(Exception):
    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status


def _github_get(api: str, path: str, token: str, deadline: float) -> Any:
    """GET a GitHub REST API path as JSON within the deadline; _ApiError otherwise."""
    import json
    import socket
    import time
    import urllib.error
    import urllib.request

    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _ApiError(None, f"the GitHub API did not answer within {NETWORK_TIMEOUT:g} s")
    request = urllib.request.Request(
        api.rstrip("/") + path,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "mlops-handover-audit",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=remaining) as response:
            return json.loads(response.read(2_000_000).decode("utf-8"))
    except urllib.error.HTTPError as error:
        try:
            detail = json.loads(error.read(100_000).decode("utf-8")).get("message", "")
        except Exception:  # a body that is not JSON: the status says enough
            detail = ""
        raise _ApiError(error.code, str(detail or error.reason)) from None
    except TimeoutError:
        raise _ApiError(
            None, f"the GitHub API did not answer within {NETWORK_TIMEOUT:g} s"
        ) from None
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, TimeoutError | socket.timeout):
            raise _ApiError(
                None, f"the GitHub API did not answer within {NETWORK_TIMEOUT:g} s"
            ) from None
        raise _ApiError(None, f"the GitHub API is unreachable ({reason})") from None
    except (OSError, ValueError) as error:
        raise _ApiError(None, f"the GitHub API answer could not be read ({error})") from None


class SC505(Check):
    """The default branch is protected and changes need a review

    A protected default branch with required reviews means no single person, vendor or
    client, can push unreviewed code to what the client runs, and nobody can rewrite its
    history. The audit reads the settings from the GitHub API with the token in `GITHUB_TOKEN`
    or `GH_TOKEN` (reading classic branch protection needs a token with administration read
    access; rulesets are readable with any read token).

    Fix: in the repository's Settings > Rules > Rulesets (or Branches), add a rule for the
    default branch that requires a pull request with at least one approval and blocks force
    pushes and deletion.
    """

    pillar = Pillar.SECURE
    severity = Severity.HIGH
    level = 3

    def check(self, git: GitRepo, options: AuditOptions, github_access: GitHubAccess) -> Result:
        import time

        remote = git.remote_url
        target = github_repository(remote)
        if target is None:
            where = (
                f"the origin remote ({_safe_url(remote)}) is not on github.com"
                if remote
                else "no origin remote"
            )
            return unknown(
                f"{where}, so branch protection was not read: check in the forge's settings "
                "that the default branch requires a reviewed merge request or pull request"
            )
        if options.offline:
            return unknown("offline: the GitHub API was not asked about branch protection")
        token = github_access.token
        if not token:
            return unknown(
                "no GitHub token: set GITHUB_TOKEN or GH_TOKEN (a token with read access to "
                f"{target[0]}/{target[1]}, administration read for classic branch protection)"
            )
        api = github_access.api_url
        owner, repo = target
        base = f"/repos/{owner}/{repo}"
        evidence = f"GitHub API {base}"
        deadline = time.monotonic() + NETWORK_TIMEOUT
        try:
            info = _github_get(api, base, token, deadline)
            branch = info.get("default_branch") if isinstance(info, dict) else None
            if not isinstance(branch, str) or not branch:
                return unknown(f"the GitHub API gave no default branch for {owner}/{repo}")
            from urllib.parse import quote

            encoded = quote(branch, safe="")
            rules = _github_get(api, f"{base}/rules/branches/{encoded}", token, deadline)
        except _ApiError as error:
            if error.status in (401, 403, 404):
                return unknown(
                    f"the GitHub API refused {owner}/{repo} ({error.status}: {error}); check "
                    "that GITHUB_TOKEN or GH_TOKEN can read the repository"
                )
            return unknown(str(error))
        reviews, no_force, rule_types = 0, False, set()
        for rule in rules if isinstance(rules, list) else []:
            if not isinstance(rule, dict):
                continue
            rule_types.add(str(rule.get("type")))
            parameters = rule.get("parameters") if isinstance(rule.get("parameters"), dict) else {}
            if rule.get("type") == "pull_request":
                count = parameters.get("required_approving_review_count")
                reviews = max(reviews, count if isinstance(count, int) else 0)
            if rule.get("type") == "non_fast_forward":
                no_force = True
        protected = bool(rule_types)
        classic_note = ""
        if not (reviews >= 1 and no_force):
            try:
                classic = _github_get(api, f"{base}/branches/{encoded}/protection", token, deadline)
            except _ApiError as error:
                if error.status == 404 and "not protected" in str(error).lower():
                    classic = None
                elif error.status in (403, 404):
                    classic = None
                    classic_note = (
                        " (classic branch protection not readable: the token needs "
                        "administration read access)"
                    )
                    if not protected:
                        return unknown(
                            f"no ruleset protects {branch} and classic branch protection is "
                            f"not readable ({error.status}: {error}): use a token with "
                            "administration read access in GITHUB_TOKEN or GH_TOKEN"
                        )
                else:
                    return unknown(str(error))
            if isinstance(classic, dict):
                protected = True
                pr_reviews = classic.get("required_pull_request_reviews")
                if isinstance(pr_reviews, dict):
                    count = pr_reviews.get("required_approving_review_count", 1)
                    reviews = max(reviews, count if isinstance(count, int) else 1)
                force = classic.get("allow_force_pushes")
                if isinstance(force, dict) and force.get("enabled") is False:
                    no_force = True
        if not protected:
            return failed(
                f"the default branch {branch} of {owner}/{repo} is not protected",
                evidence,
                locations=((".git/config", None),),
            )
        if reviews >= 1 and no_force:
            return passed(
                f"{branch} requires {reviews} approving review(s) and blocks force pushes",
                evidence,
            )
        if reviews >= 1:
            return partial(
                0.75,
                f"{branch} requires {reviews} approving review(s) but allows force pushes"
                + classic_note,
                evidence,
            )
        return partial(
            0.5, f"{branch} is protected but needs no approving review{classic_note}", evidence
        )


# --- SC506 ---------------------------------------------------------------------------------


class SC506(Check):
    """A licence and a security policy are in the repository

    The licence says what the client may do with the code after the handover; the security
    policy says whom to tell about a vulnerability now that the vendor is gone.

    Fix: add `LICENSE` (the terms agreed in the contract) and `SECURITY.md` (or
    `.github/SECURITY.md`) naming the client's contact for vulnerability reports.
    """

    pillar = Pillar.SECURE
    severity = Severity.LOW
    level = 4

    def check(self, files: ProjectFiles) -> Result:
        licences = [p for p in files if "/" not in p and re.match(r"(?i)(licen[cs]e|copying)", p)]
        policies = [
            p for p in files
            if p.lower() in ("security.md", ".github/security.md", "docs/security.md")
        ]  # fmt: skip
        found = [*licences[:1], *policies[:1]]
        if licences and policies:
            return passed(f"{licences[0]} and {policies[0]} are present", *found)
        if licences or policies:
            missing = "SECURITY.md" if licences else "a LICENSE file"
            return partial(0.5, f"{found[0]} is present but {missing} is missing", *found)
        return failed(
            "neither a LICENSE file nor SECURITY.md",
            locations=(("LICENSE", None), ("SECURITY.md", None)),
        )


# --- SC507 ---------------------------------------------------------------------------------

_DVC_CREDENTIAL_KEYS = {
    "access_key_id", "secret_access_key", "session_token", "password", "connection_string",
    "account_key", "sas_token", "key", "key_id", "key_secret", "oss_key_id", "oss_key_secret",
    "gdrive_client_secret", "client_secret", "token", "user_password", "custom_auth_header",
}  # fmt: skip


def _dvc_config_credentials(text: str) -> list[tuple[str, int | None]]:
    """(`section key`, line) of credential values in a DVC config; Unavailable if malformed."""
    parser = DvcProject.parse_config(text)
    found = []
    for section in parser.sections():
        for key, value in parser.items(section):
            value = (value or "").strip()
            if key.lower() in _DVC_CREDENTIAL_KEYS and value and not value.startswith("$"):
                line = re.search(rf"(?im)^\s*{re.escape(key)}\s*=", text)
                number = text.count("\n", 0, line.start()) + 1 if line else None
                found.append((f"[{section.strip(chr(39))}] {key}", number))
    return found


class SC507(Check):
    """No credentials in the tracked configuration

    `.dvc/config` is committed and read by everyone with the repository; the DVC remote's
    keys belong in the git-ignored `.dvc/config.local` or the environment. The same holds for
    an MLflow tracking URI with `user:password@` in `params.yaml`, `.env*` or other tracked
    configuration.

    Fix: `dvc remote modify --local storage access_key_id ...` (writes `.dvc/config.local`),
    remove the keys from `.dvc/config`, `git rm --cached .dvc/config.local` if it is tracked,
    and give MLflow its credentials in `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`.
    Then rotate the exposed credentials.
    """

    pillar = Pillar.SECURE
    severity = Severity.HIGH
    level = 1

    def check(self, files: ProjectFiles, history: History) -> Result:
        problems, locations, evidence = [], [], []
        if ".dvc/config.local" in files:
            problems.append(".dvc/config.local (local credentials) is tracked")
            locations.append((".dvc/config.local", None))
        if ".dvc/config" in files:
            evidence.append(".dvc/config")
            for name, line in _dvc_config_credentials(files.text(".dvc/config")):
                problems.append(f".dvc/config sets {name}")
                locations.append((".dvc/config", line))
        for secret in history.tree_secrets:
            if secret.kind == "url" and _config_file(secret.path):
                problems.append(f"{secret.path}:{secret.line} has a URI with {secret.masked}")
                locations.append((secret.path, secret.line))
            elif secret.path == ".dvc/config" and not any(
                line == secret.line for p, line in locations if p == ".dvc/config"
            ):
                problems.append(f".dvc/config:{secret.line} holds a {secret.label}")
                locations.append((secret.path, secret.line))
        evidence.append("git grep --cached")
        if problems:
            return failed(
                f"credentials in tracked configuration: {_listing(problems)}",
                *evidence,
                locations=tuple(locations),
            )
        return passed(
            "no credential in .dvc/config, no tracked .dvc/config.local and no URI with a "
            "password in tracked configuration",
            *evidence,
        )


def _config_file(path: str) -> bool:
    name = PurePosixPath(path).name.lower()
    suffix = PurePosixPath(name).suffix
    return (
        name.startswith(".env")
        or name.endswith(".env")
        or name in ("mlproject", "config", "dvc.yaml")
        or suffix in (".yaml", ".yml", ".toml", ".cfg", ".ini", ".conf", ".json", ".properties")
    )
