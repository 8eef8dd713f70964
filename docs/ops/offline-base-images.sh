#!/bin/sh
# Stand-ins for the two base images the Dockerfile pins, built from Debian packages alone, for
# machines that reach a Debian mirror but no container registry (air-gapped build hosts, CI):
#
#   docs/ops/offline-base-images.sh OUT_DIR
#
# writes OUT_DIR/build.tar (JDK 17 + Maven) and OUT_DIR/runtime.tar (JRE 17, bash, useradd):
# docker-archive files, each already named as the Dockerfile's FROM line names it, so that
#
#   podman load -i OUT_DIR/build.tar && podman load -i OUT_DIR/runtime.tar
#   buildah bud --format docker -t xbosh:0.1.0 .
#
# builds the image without a pull. They stand in for the public images (same Java release, a
# Debian 12 root instead of Ubuntu), not a copy of them. Needs root, mmdebstrap and buildah; reaches
# only DEBIAN_MIRROR (default http://deb.debian.org/debian). Storage of its own under a temp dir
# (STORAGE_DRIVER, default overlay; vfs where the kernel has no overlayfs), removed at the end, so
# the caller's containers/storage is not touched.
set -eu

out=${1:?usage: $0 OUT_DIR}
here=$(cd "$(dirname "$0")/../.." && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${DEBIAN_SUITE:-bookworm}

# The names come from the Dockerfile, so the stand-ins follow a change of the pinned versions.
build_image=$(sed -n 's/^FROM \([^ ]*\) AS build$/\1/p' "$here/Dockerfile")
runtime_image=$(sed -n 's/^FROM \([^ ]*\)$/\1/p' "$here/Dockerfile" | tail -1)
[ -n "$build_image" ] && [ -n "$runtime_image" ] || { echo "no FROM lines found in $here/Dockerfile" >&2; exit 1; }

mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/xbosh-base-images.XXXXXX")
bud() { buildah --root "$work/root" --runroot "$work/run" --storage-driver "${STORAGE_DRIVER:-overlay}" "$@"; }
cleanup() {
  bud rm --all >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# One bootstrap for both roots: the runtime root (JRE) is copied out as it stands (without apt's
# package lists and downloads, and without the /proc, /sys, /dev mounted for the hooks), then the
# JDK and Maven are installed on top of it for the build root.
mmdebstrap --quiet --mode=root --variant=minbase --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt=force-unsafe-io --include=openjdk-17-jre-headless,ca-certificates \
  --customize-hook="tar --one-file-system --numeric-owner -C \"\$1\" --exclude='./var/lib/apt/lists/*' --exclude='./var/cache/apt/*' -cf $work/runtime-root.tar ." \
  --customize-hook='chroot "$1" apt-get install --yes --quiet --quiet openjdk-17-jdk-headless maven' \
  "$suite" "$work/build-root.tar" "$mirror"

java_home=/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture)
image() { # root tarball, name, extra buildah config options...
  tarball=$1 name=$2
  shift 2
  ctr=$(bud from scratch)
  bud add --quiet "$ctr" "$tarball" /
  bud config --env JAVA_HOME="$java_home" --env LANG=C.UTF-8 \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --label org.opencontainers.image.description="stand-in for $name built from Debian $suite packages" "$@" "$ctr"
  bud commit --quiet --rm "$ctr" "$name" >/dev/null
}
image "$work/build-root.tar" "$build_image" --env MAVEN_HOME=/usr/share/maven --cmd mvn
bud push --quiet "$build_image" "docker-archive:$out/build.tar.part:$build_image"
mv "$out/build.tar.part" "$out/build.tar"
image "$work/runtime-root.tar" "$runtime_image"
bud push --quiet "$runtime_image" "docker-archive:$out/runtime.tar.part:$runtime_image"
mv "$out/runtime.tar.part" "$out/runtime.tar"
echo "$out/build.tar: $build_image"
echo "$out/runtime.tar: $runtime_image"
