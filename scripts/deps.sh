#!/usr/bin/env bash
# Installs every Debian package the build, the tests, the demo and the benchmarks need.
# Idempotent: does nothing when all are present.
set -euo pipefail
packages=(
  build-essential pkg-config
  libsodium-dev libssl-dev libmnl-dev libnftables-dev libcjson-dev libcurl4-openssl-dev
  libprotobuf-c-dev protobuf-c-compiler
  wireguard-tools wireguard-go iperf3 nftables iproute2 tcpdump socat procps psmisc iputils-ping
  python3-cryptography golang-go golang-github-containerd-ttrpc-dev
  jq curl prometheus systemd
  clang libclang-rt-14-dev llvm-14  # the fuzz harnesses: libFuzzer and sanitizer runtimes, llvm-symbolizer
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages ${missing[*]}; run 'make deps' as root" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
