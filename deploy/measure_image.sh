#!/bin/sh
# The image's size without Docker: builds the file system deploy/Dockerfile describes and
# measures it (uncompressed, and as gzip like a registry's layers). Run as root on Debian with
# `mmdebstrap` installed (apt-get install --no-install-recommends mmdebstrap):
#
#     sh deploy/measure_image.sh [work folder, default /tmp/usher-image]
#
# One difference from the real image, as Docker Hub's python:3.11-slim-bookworm cannot be
# fetched without Docker: the base here is Debian bookworm's own minimal system with Debian's
# python3.11 (and the ca-certificates, netbase and tzdata the python image adds), not the
# CPython build the official image compiles into /usr/local. Usher's own part (the runtime
# stage's tini, user and /opt/venv) is built exactly as the Dockerfile does: the same pip
# options, the hash-pinned deploy/requirements/app.txt, and Usher's wheel made by the pinned
# hatchling from the committed code.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-/tmp/usher-image}
PIP="python3 -m pip"
rm -rf "$WORK" && mkdir -p "$WORK/src"

size() {  # name, then the tar command's arguments
    name=$1 && shift
    raw=$(tar -c "$@" 2>/dev/null | wc -c)
    gz=$(tar -c "$@" 2>/dev/null | gzip -6 | wc -c)
    printf '%-34s %6.1f MB uncompressed, %6.1f MB gzipped\n' "$name" \
        "$(echo "$raw / 1000000" | bc -l)" "$(echo "$gz / 1000000" | bc -l)"
}

# The base: Debian bookworm, minimal, with Python 3.11, made slim as Debian's `-slim` container
# images are (debuerreotype's rules: no documentation, manual pages or translations; no
# recommended packages; apt's caches removed after each install, as their docker-clean does).
# Merged /usr made by mmdebstrap's hook, as debuerreotype does, not by the usrmerge package
# (which would pull in perl).
mmdebstrap --quiet --mode=root --variant=minbase \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/groff/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --dpkgopt='path-exclude=/usr/share/linda/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --customize-hook='rm -rf "$1"/var/cache/apt/*.bin "$1"/var/lib/apt/lists/*' \
    --include=python3.11,ca-certificates,netbase,tzdata bookworm "$WORK/base"
cp -a "$WORK/base" "$WORK/image"
chroot "$WORK/image" sh -c 'apt-get update -qq && apt-get install -qq --yes \
    --no-install-recommends tini >/dev/null && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && groupadd --system --gid 10001 usher \
    && useradd --system --uid 10001 --gid usher --home-dir /home/usher --create-home \
        --shell /usr/sbin/nologin usher \
    && python3.11 -m venv --without-pip /opt/venv'

# The builder stage's /opt/venv: app.txt's wheels, then Usher's wheel (built from HEAD).
python3 -m venv --without-pip "$WORK/build"
$PIP --python "$WORK/build/bin/python" install --quiet --require-hashes --no-deps \
    --only-binary=:all: -r "$ROOT/deploy/build-requirements.txt"
(cd "$ROOT" && git archive HEAD pyproject.toml README.md schemas services workers) \
    | tar -x -C "$WORK/src"
(cd "$WORK/src" && "$WORK/build/bin/hatchling" build --target wheel --directory "$WORK/dist")
$PIP --python "$WORK/image/opt/venv/bin/python" install --quiet --require-hashes --no-deps \
    --only-binary=:all: -r "$ROOT/deploy/requirements/app.txt"
$PIP --python "$WORK/image/opt/venv/bin/python" install --quiet --no-deps --no-index \
    "$WORK"/dist/usher-*.whl
# pip wrote the scripts' first line with the path seen from here; the image's is /opt/venv.
sed -i "1s|^#!$WORK/image/opt/venv/bin/python|#!/opt/venv/bin/python|" "$WORK"/image/opt/venv/bin/*
chroot "$WORK/image" /opt/venv/bin/usher --help >/dev/null \
    || echo "warning: usher does not start inside the image's file system"

echo "sizes (tar of the file system; a registry stores each layer gzipped):"
size "base (Debian minbase + python3.11)" -C "$WORK/base" .
size "whole image" -C "$WORK/image" .
size "Usher's layer: /opt/venv" -C "$WORK/image" opt/venv
echo "largest packages in /opt/venv (MB):"
du -sm "$WORK"/image/opt/venv/lib/python3.11/site-packages/* | sort -rn | head -8 \
    | sed "s|$WORK/image/opt/venv/lib/python3.11/site-packages/||"
