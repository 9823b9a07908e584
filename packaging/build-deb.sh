#!/usr/bin/env bash
# Build capstan_<version>_<arch>.deb with dpkg-deb from a staged tree (no cargo-deb: it takes ~13
# minutes to compile here). Usage: packaging/build-deb.sh <capstan binary> <output dir> [version]
# DEB_COMPRESS=none|gzip|xz|zstd picks the compression (default xz).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
bin="${1:?usage: build-deb.sh <capstan binary> <output dir> [version]}"
out="${2:?usage: build-deb.sh <capstan binary> <output dir> [version]}"
version="${3:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)}"
arch="$(dpkg --print-architecture)"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
root="$stage/capstan_${version}_${arch}"

install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/capstan" \
    "$root/usr/share/doc/capstan"
install -m 0755 "$bin" "$root/usr/bin/capstan"
install -m 0644 "$repo/systemd/capstan.service" "$repo/systemd/capstan-certs.service" "$root/lib/systemd/system/"
install -m 0644 "$here/config.yaml" "$root/etc/capstan/config.yaml"
install -m 0644 "$repo/systemd/capstan.env" "$root/etc/capstan/capstan.env"
install -m 0644 "$repo/README.md" "$root/usr/share/doc/capstan/README.md"
install -m 0644 "$here/debian/conffiles" "$root/DEBIAN/conffiles"
install -m 0755 "$here/debian/postinst" "$here/debian/prerm" "$here/debian/postrm" "$root/DEBIAN/"
size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" "$here/debian/control.in" \
    > "$root/DEBIAN/control"
mkdir -p "$out"
dpkg-deb --root-owner-group -Z"${DEB_COMPRESS:-xz}" --build "$root" "$out/capstan_${version}_${arch}.deb" >/dev/null
echo "$out/capstan_${version}_${arch}.deb"
