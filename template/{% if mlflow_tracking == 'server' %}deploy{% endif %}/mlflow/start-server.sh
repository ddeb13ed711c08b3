#!/usr/bin/env bash
# Start the team's MLflow tracking server without containers: the same server that compose.yaml
# runs, for a VM or a bare host. Settings come from the environment and from deploy/mlflow/.env
# (git-ignored; copy .env.example) when it exists; as with compose, the environment wins. See
# README.md in this directory.
#
#   deploy/mlflow/start-server.sh           upgrade both databases, then serve
#   deploy/mlflow/start-server.sh upgrade   only upgrade (once before starting, and after every
#                                           MLflow upgrade): the schema must not be migrated by
#                                           several workers at once
#   deploy/mlflow/start-server.sh serve     only serve (the databases are already upgraded)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
env_file=${MLFLOW_ENV_FILE:-$here/.env}
if [ -f "$env_file" ]; then
  environment=$(export -p)
  set -a
  # shellcheck disable=SC1090
  . "$env_file"
  set +a
  eval "$environment"
fi

fail() {
  echo "start-server.sh: $*" >&2
  exit 2
}

need() {
  [ -n "${!1:-}" ] || fail "$1 is not set: $2 Set it in $env_file (copy .env.example) or in the environment."
}

need MLFLOW_BACKEND_STORE_URI "the PostgreSQL database for runs and models, e.g. postgresql+psycopg://mlflow:PASSWORD@127.0.0.1:5432/mlflow."
need MLFLOW_ARTIFACTS_DESTINATION "the bucket the server stores artifacts in, e.g. s3://BUCKET/mlflow."
need MLFLOW_AUTH_ADMIN_PASSWORD "the password of the server's admin user (12 characters or more)."
need MLFLOW_FLASK_SERVER_SECRET_KEY "a random key that signs the server's sessions, e.g. from: python -c 'import secrets; print(secrets.token_hex(32))'."
length=$(printf %s "$MLFLOW_AUTH_ADMIN_PASSWORD" | wc -m)
[ "$length" -ge 12 ] \
  || fail "MLFLOW_AUTH_ADMIN_PASSWORD has $length characters: MLflow refuses an admin password shorter than 12."
case "$MLFLOW_BACKEND_STORE_URI" in
  postgresql+psycopg://*) ;;
  postgresql://*) fail "MLFLOW_BACKEND_STORE_URI starts with postgresql://: write postgresql+psycopg:// so SQLAlchemy uses psycopg 3, which requirements.txt installs." ;;
  *) fail "MLFLOW_BACKEND_STORE_URI is not a postgresql+psycopg:// URI: a team server keeps runs and models in PostgreSQL." ;;
esac
case "$MLFLOW_ARTIFACTS_DESTINATION" in
  s3://*) ;;
  *) fail "MLFLOW_ARTIFACTS_DESTINATION is not an s3:// URI: the server stores artifacts in the client's bucket." ;;
esac

# Users and permissions of basic auth live in their own database (its migrations and the
# tracking schema's would collide in one); by default a SQLite file in MLFLOW_STATE_DIR.
state_dir=${MLFLOW_STATE_DIR:-$here/state}
mkdir -p "$state_dir"
auth_uri=${MLFLOW_AUTH_DATABASE_URI:-sqlite:///$state_dir/basic_auth.db}
# MLflow reads the auth database from an ini file: write it where only this user can read it,
# since the URI may hold a password ('%' doubled: the file is read with interpolation).
auth_ini="$state_dir/basic_auth.ini"
(
  umask 077
  cat >"$auth_ini" <<INI
[mlflow]
default_permission = ${MLFLOW_AUTH_DEFAULT_PERMISSION:-READ}
database_uri = ${auth_uri//%/%%}
admin_username = ${MLFLOW_AUTH_ADMIN_USERNAME:-admin}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
)
export MLFLOW_AUTH_CONFIG_PATH="$auth_ini"

python=${MLFLOW_PYTHON:-python3}
command=${1:-all}
case "$command" in
  upgrade | serve | all) ;;
  *) fail "unknown command '$command': use upgrade, serve or all (the default)." ;;
esac

if [ "$command" != serve ]; then
  echo "start-server.sh: upgrading the tracking database"
  "$python" -m mlflow db upgrade "$MLFLOW_BACKEND_STORE_URI"
  echo "start-server.sh: upgrading the auth database"
  "$python" -m mlflow.server.auth db upgrade --url "$auth_uri"
fi
[ "$command" = upgrade ] && exit 0

args=(
  --backend-store-uri "$MLFLOW_BACKEND_STORE_URI"
  --artifacts-destination "$MLFLOW_ARTIFACTS_DESTINATION"
  --app-name basic-auth
  --host "${MLFLOW_HOST:-127.0.0.1}"
  --port "${MLFLOW_PORT:-5000}"
  --workers "${MLFLOW_WORKERS:-4}"
)
[ -n "${MLFLOW_ALLOWED_HOSTS:-}" ] && args+=(--allowed-hosts "$MLFLOW_ALLOWED_HOSTS")
[ -n "${MLFLOW_CORS_ALLOWED_ORIGINS:-}" ] && args+=(--cors-allowed-origins "$MLFLOW_CORS_ALLOWED_ORIGINS")
echo "start-server.sh: serving on ${MLFLOW_HOST:-127.0.0.1}:${MLFLOW_PORT:-5000}"
exec "$python" -m mlflow server "${args[@]}"
