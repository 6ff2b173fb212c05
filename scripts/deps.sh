#!/usr/bin/env bash
# Installs the Debian 12 packages that building and testing maxsess need.
# Does nothing (and needs no network) when they are all installed already.
# As root it runs apt-get itself; otherwise through `sudo -n` when that works
# without a password, else it prints the command to run and exits 1.
#   scripts/deps.sh            the packages below
#   scripts/deps.sh PKG...     those packages instead (make bench: nginx, redis, wrk)
set -euo pipefail

packages=(
  cmake g++ make
  libcaf-dev libboost-dev libyaml-cpp-dev libpq-dev nlohmann-json3-dev libsimdjson-dev libmimalloc-dev libssl-dev libcli11-dev
  libgtest-dev libgmock-dev openssl
  clang libclang-rt-14-dev   # make test's fuzz targets: clang 14 and its libFuzzer/ASan runtimes
  postgresql
  curl ca-certificates python3
  python3-yaml python3-jsonschema   # tests/scripts/openapi_test.py: docs/openapi.yaml against real answers
  dpkg-dev
)
if [[ $# -gt 0 ]]; then
  packages=("$@")
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if [[ $(id -u) -eq 0 ]]; then
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update
  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "deps.sh: missing packages: ${missing[*]}" >&2
  echo "deps.sh: run as root (or with sudo), then try again:" >&2
  echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
