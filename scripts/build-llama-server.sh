#!/usr/bin/env bash
# Builds llama.cpp's llama-server, the real third-party model server the suite runs mlx-guard
# against, from the llama.cpp release that the npm package node-llama-cpp ships as a git bundle
# (the npm registry is the one source this machine reaches). Only the llama-server target is
# built, with the options that keep CMake's configure step offline: no web UI download, no
# OpenSSL, no tests or examples.
#
# The binary lands in a cache outside the clone, keyed by the package version, and is reused when
# present. Prints the binary's path as the last line of output.
#
# Usage: scripts/build-llama-server.sh            (cache: $MLX_GUARD_LLAMA_CACHE or ~/.cache/mlx-guard)
set -euo pipefail

version=3.21.1
cache_root=${MLX_GUARD_LLAMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlx-guard}
home="$cache_root/llama-server-node-llama-cpp-$version"
binary="$home/bin/llama-server"

if [[ -x "$binary" ]] && "$binary" --version >/dev/null 2>&1; then
  echo "$binary"
  exit 0
fi

for tool in cmake git c++ tar; do
  command -v "$tool" >/dev/null || { echo "build-llama-server: $tool is missing; install it (Debian: apt-get install cmake git g++)" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "build-llama-server: fetching node-llama-cpp@$version from the npm registry" >&2
(cd "$work" && npm pack --silent "node-llama-cpp@$version" >/dev/null)
tar -xzf "$work/node-llama-cpp-$version.tgz" -C "$work" package/llama/gitRelease.bundle package/llama/llama.cpp.info.json
echo "build-llama-server: llama.cpp $(cat "$work/package/llama/llama.cpp.info.json" | tr -d '\n ')" >&2
git clone --quiet "$work/package/llama/gitRelease.bundle" "$work/llama.cpp"

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$work/llama.cpp" -B "$work/build" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=OFF \
  -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
  -DLLAMA_OPENSSL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
  -DGGML_NATIVE=OFF >&2
cmake --build "$work/build" --target llama-server -j "$(nproc)" >&2

mkdir -p "$home/bin"
install -m 0755 "$work/build/bin/llama-server" "$binary.tmp"
mv "$binary.tmp" "$binary"
cp "$work/package/llama/llama.cpp.info.json" "$home/"
echo "$binary"
