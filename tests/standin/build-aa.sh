#!/usr/bin/env bash
# Builds the stand-in Attestation Agent (tests/standin/aa) into build/standin/aa-standin, offline,
# against Debian's Go packages (golang-github-containerd-ttrpc-dev and its dependencies).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=build/standin/aa-standin
if [ ! -d /usr/share/gocode/src/github.com/containerd/ttrpc ]; then
  echo "build-aa: golang-github-containerd-ttrpc-dev is not installed (run 'make deps')" >&2
  exit 1
fi
mkdir -p build/standin
export GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= GOCACHE="$PWD/build/standin/go-cache"
go build -o "$out.$$" ./tests/standin/aa
mv "$out.$$" "$out"
