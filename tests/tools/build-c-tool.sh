#!/usr/bin/env bash
# Compiles a C test helper against a build's library, with the sanitizers when the build is
# the ASan one, for end-to-end tests that need a small program of their own:
#   tests/tools/build-c-tool.sh NAME OUTPUT BUILD_DIR   (compiles tests/tools/NAME.c)
set -euo pipefail
name=$1 output=$2 build=$3
root=$(cd "$(dirname "$0")/../.." && pwd)
flags=(-std=c11 -D_GNU_SOURCE -I"$root")
case "$build" in */asan) flags+=(-fsanitize=address,undefined) ;; esac
# shellcheck disable=SC2046
exec cc "${flags[@]}" -o "$output" "$root/tests/tools/$name.c" "$build/libtngwg.a" \
	$(pkg-config --libs libsodium openssl libmnl libnftables libcjson libcurl libprotobuf-c) -lm
