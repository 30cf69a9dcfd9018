#!/usr/bin/env bash
# Lays out a managed Docker plugin: DIR/config.json and DIR/rootfs holding
# the plugin binary and the shared libraries it needs.
#   packaging/docker-plugin/build.sh DIR [BINARY]
# then: docker plugin create logdriver DIR && docker plugin enable logdriver
# The plugin's log directory is a bind mount of the host's /var/lib/logdriver
# (it must exist); move it with: docker plugin set logdriver logs.source=DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: build.sh DIR [BINARY]}
binary=${2:-target/release/logdriver-plugin}
rm -rf "$dir"
mkdir -p "$dir/rootfs/run/docker/plugins" "$dir/rootfs/var/lib/logdriver"
cp "$here/config.json" "$dir/"
cp "$binary" "$dir/rootfs/logdriver-plugin"
for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
    mkdir -p "$dir/rootfs$(dirname "$lib")"
    cp -L "$lib" "$dir/rootfs$lib"
done
echo "managed plugin laid out in $dir"
