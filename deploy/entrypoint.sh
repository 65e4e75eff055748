#!/bin/sh
# One image, every role: deploy/entrypoint.sh api|worker|beat|migrate [extra args].
# Configuration comes from TESSERA_* variables (see .env.example); the knobs below are
# the process's own, not the application's settings.
set -eu
# Alembic finds alembic.ini, and Python the backend package, from the project root.
cd "$(dirname "$0")/.."

role="${1:-}"
if [ "$#" -gt 0 ]; then
    shift
fi

# Uvicorn and Celery spell log levels in lower case; Tessera's setting is upper case.
level="$(printf '%s' "${TESSERA_LOG_LEVEL:-INFO}" | tr '[:upper:]' '[:lower:]')"

# Several processes behind one metrics port (uvicorn --workers, Celery's prefork pool)
# share counters through files in this directory; it must start empty on every start.
use_fresh_metrics_dir() {
    if [ -z "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
        PROMETHEUS_MULTIPROC_DIR="$(mktemp -d "${TMPDIR:-/tmp}/tessera-metrics.XXXXXX")"
    else
        mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
        find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -delete
    fi
    export PROMETHEUS_MULTIPROC_DIR
}

case "$role" in
    api)
        use_fresh_metrics_dir
        # The app configures logging in each worker process; this file makes uvicorn's
        # own supervisor lines JSON too.
        if [ "${TESSERA_LOG_FORMAT:-json}" = "json" ]; then
            set -- --log-config deploy/uvicorn-logging.json "$@"
        fi
        # SIGTERM: stop accepting, let in-flight requests finish for up to the grace
        # period, then exit 0. Keep the orchestrator's grace period above it.
        exec python -m backend.serve backend.main:create_app --factory \
            --host "${TESSERA_HOST:-0.0.0.0}" \
            --port "${TESSERA_PORT:-8000}" \
            --workers "${TESSERA_API_WORKERS:-2}" \
            --timeout-graceful-shutdown "${TESSERA_GRACEFUL_SHUTDOWN_SECONDS:-20}" \
            --timeout-keep-alive 5 \
            --proxy-headers \
            --forwarded-allow-ips "${TESSERA_FORWARDED_ALLOW_IPS:-127.0.0.1}" \
            --no-server-header \
            --log-level "$level" \
            "$@"
        ;;
    worker)
        use_fresh_metrics_dir
        # SIGTERM becomes Celery's soft shutdown: running tasks get
        # TESSERA_WORKER_SOFT_SHUTDOWN_SECONDS to finish, the rest go back to the queue
        # for another worker, and the process exits 0.
        export REMAP_SIGTERM=SIGQUIT
        exec python -m celery -A backend.worker.app worker \
            --loglevel "$level" \
            --concurrency "${TESSERA_WORKER_CONCURRENCY:-2}" \
            --hostname "${TESSERA_WORKER_NAME:-worker}@%h" \
            "$@"
        ;;
    beat)
        # Exactly one beat may run: two would send every scheduled sweep twice.
        exec python -m celery -A backend.worker.app beat \
            --loglevel "$level" \
            --schedule "${TESSERA_BEAT_SCHEDULE:-${TMPDIR:-/tmp}/celerybeat-schedule}" \
            "$@"
        ;;
    migrate)
        # As the owner role; also creates and grants the application role (RLS).
        python -m backend.db.wait --timeout "${TESSERA_DATABASE_WAIT_SECONDS:-60}"
        exec python -m alembic upgrade head "$@"
        ;;
    *)
        echo "usage: entrypoint.sh api|worker|beat|migrate [args...]" >&2
        exit 64
        ;;
esac
