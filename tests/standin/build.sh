#!/usr/bin/env bash
# Builds a stand-in written in Go, offline, against Debian's Go packages (no module proxy):
#   tests/standin/build.sh aa        the Attestation Agent (tests/standin/aa) -> build/standin/aa-standin,
#                                    with golang-github-containerd-ttrpc-dev and its dependencies
#   tests/standin/build.sh as-fast   the benchmark's Attestation Service (tests/standin/as-fast)
#                                    -> build/standin/as-fast, the standard library only
set -euo pipefail
cd "$(dirname "$0")/../.."
case "${1:-}" in
aa)
  out=build/standin/aa-standin
  if [ ! -d /usr/share/gocode/src/github.com/containerd/ttrpc ]; then
    echo "build: golang-github-containerd-ttrpc-dev is not installed (run 'make deps')" >&2
    exit 1
  fi
  ;;
as-fast) out=build/standin/as-fast ;;
*) echo "usage: $0 aa|as-fast" >&2; exit 2 ;;
esac
mkdir -p build/standin
export GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= GOCACHE="$PWD/build/standin/go-cache"
go build -o "$out.$$" "./tests/standin/$1"
mv "$out.$$" "$out"
