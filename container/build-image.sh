#!/usr/bin/env bash
# Build the image: `docker build` where a Docker engine answers, otherwise buildah (chroot
# isolation). Where the base image cannot be pulled, a local debian:bookworm-slim stand-in is made
# with debootstrap and imported once. Usage: build-image.sh [IMAGE] [extra build arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."

image="${1:-sm-detect:latest}"
shift || true
base="${BASE_IMAGE:-debian:bookworm-slim}"
started=$(date +%s)

for argument in "$@"; do
  case "$argument" in
    MODEL_ARCHIVE=*)
      archive="${argument#MODEL_ARCHIVE=}"
      [ -f "$archive" ] || { echo "build-image.sh: $argument: no such file" >&2; exit 1; } ;;
  esac
done

apt_install() {
  echo "==> installing $* from Debian"
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# A CA bundle for pip inside the build when this machine's traffic goes through a TLS proxy.
ca_bundle="${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}"
secret_args=()
if [ -n "$ca_bundle" ] && [ -s "$ca_bundle" ]; then
  secret_args=(--secret "id=pip-ca,src=$ca_bundle")
fi

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  echo "==> building $image with docker"
  DOCKER_BUILDKIT=1 docker build -t "$image" --build-arg "BASE_IMAGE=$base" "${secret_args[@]}" "$@" .
  tool=docker
else
  command -v buildah >/dev/null || apt_install buildah
  if ! buildah inspect --type image "$base" >/dev/null 2>&1 \
      && ! buildah pull --quiet "$base" >/dev/null 2>&1; then
    echo "==> $base cannot be pulled: making a local stand-in with debootstrap"
    command -v debootstrap >/dev/null || apt_install debootstrap
    command -v podman >/dev/null || apt_install podman
    rootfs=$(mktemp -d)
    trap 'rm -rf "$rootfs"' EXIT
    debootstrap --variant=minbase bookworm "$rootfs" >/dev/null
    tar -C "$rootfs" -c . | podman import --quiet - "$base" >/dev/null
  fi
  echo "==> building $image with buildah"
  buildah bud --quiet --layers --isolation chroot \
    --ulimit nofile=1024:1024 --ulimit nproc=1000:1000 \
    -t "$image" --build-arg "BASE_IMAGE=$base" "${secret_args[@]}" "$@" . >/dev/null
  command -v podman >/dev/null || apt_install podman
  tool=podman  # podman reads buildah's storage
fi

size=$($tool image inspect --format '{{.Size}}' "$image")
base_size=$($tool image inspect --format '{{.Size}}' "$base")
echo "image: $image"
echo "size: $(( size / 1000000 )) MB, of which $(( (size - base_size) / 1000000 )) MB above $base"
echo "biggest layers:"
if [ "$tool" = docker ]; then
  docker history --human=false --no-trunc --format '{{.Size}}\t{{.CreatedBy}}' "$image"
else  # podman's Go template shows sizes rounded for people; its JSON has the bytes
  podman history --format json "$image" \
    | python3 -c 'import json, sys; [print(l["size"], l["CreatedBy"], sep="\t") for l in json.load(sys.stdin)]'
fi | sort -rn | head -5 | awk -F'\t' '{ printf "  %5d MB  %s\n", $1 / 1000000, substr($2, 1, 90) }'
echo "build time: $(( $(date +%s) - started )) s"
