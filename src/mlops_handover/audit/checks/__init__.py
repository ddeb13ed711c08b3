"""The audit's checks, one module per kind of evidence; importing this package registers them.

- `pipeline`: the environment, the DVC pipeline and how a client rebuilds and retrains;
- `security`: secrets, credentials, large files and CI workflow hygiene, in the tree and history;
- `tracking`: the MLflow tracking store and registry, and who owns the infrastructure;
- `operations`: CI, tests, monitoring and the people who commit;
- `documents`: the handover documents, sign-offs and the template link.
"""

from mlops_handover.audit.checks import (  # noqa: F401
    documents,
    operations,
    pipeline,
    security,
    tracking,
)
