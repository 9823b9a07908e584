#!/usr/bin/env bash
# Build capstan-<version>-1.<arch>.rpm with rpmbuild from the prebuilt binary (no
# cargo-generate-rpm: it takes ~21 minutes to compile here). Same payload as the .deb: binary,
# units, default config and env file (config noreplace), a `capstan` system user, /var/lib/capstan,
# and a kube-apiserver alternative.
# Usage: packaging/build-rpm.sh <capstan binary> <output dir> [version]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
bin="$(cd "$(dirname "${1:?usage: build-rpm.sh <capstan binary> <output dir> [version]}")" && pwd)/$(basename "$1")"
out="${2:?usage: build-rpm.sh <capstan binary> <output dir> [version]}"
version="${3:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)}"
top="$(mktemp -d)"
trap 'rm -rf "$top"' EXIT
mkdir -p "$top"/{SPECS,SOURCES,BUILD,RPMS,SRPMS} "$out"
cp "$bin" "$top/SOURCES/capstan"
cp "$repo/systemd/capstan.service" "$repo/systemd/capstan-certs.service" "$repo/systemd/capstan.env" \
   "$here/config.yaml" "$repo/README.md" "$top/SOURCES/"
cat > "$top/SPECS/capstan.spec" <<SPEC
Name:           capstan
Version:        ${version}
Release:        1
Summary:        Kubernetes API server in Rust, drop-in for kube-apiserver
License:        Apache-2.0
URL:            https://example.invalid/capstan
AutoReqProv:    no
Requires(pre):  shadow-utils
Requires(post): chkconfig

%description
Capstan serves the Kubernetes API (1.33 level) on an embedded store or etcd, with kubeadm's
flags, layered configuration, certificate tools and systemd units.

%install
install -D -m 0755 %{_sourcedir}/capstan %{buildroot}/usr/bin/capstan
install -D -m 0644 %{_sourcedir}/capstan.service %{buildroot}/usr/lib/systemd/system/capstan.service
install -D -m 0644 %{_sourcedir}/capstan-certs.service %{buildroot}/usr/lib/systemd/system/capstan-certs.service
install -D -m 0644 %{_sourcedir}/config.yaml %{buildroot}/etc/capstan/config.yaml
install -D -m 0644 %{_sourcedir}/capstan.env %{buildroot}/etc/capstan/capstan.env
install -D -m 0644 %{_sourcedir}/README.md %{buildroot}/usr/share/doc/capstan/README.md
install -d -m 0700 %{buildroot}/var/lib/capstan

%pre
getent group capstan >/dev/null || groupadd -r capstan
getent passwd capstan >/dev/null || useradd -r -g capstan -d /var/lib/capstan -s /sbin/nologin -c "Capstan API server" capstan
exit 0

%post
update-alternatives --install /usr/bin/kube-apiserver kube-apiserver /usr/bin/capstan 50
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi

%preun
if [ "\$1" = 0 ]; then update-alternatives --remove kube-apiserver /usr/bin/capstan; fi

%files
/usr/bin/capstan
/usr/lib/systemd/system/capstan.service
/usr/lib/systemd/system/capstan-certs.service
%config(noreplace) /etc/capstan/config.yaml
%config(noreplace) /etc/capstan/capstan.env
%doc /usr/share/doc/capstan/README.md
%dir %attr(0700,capstan,capstan) /var/lib/capstan
SPEC
rpmbuild --quiet --define "_topdir $top" --define "debug_package %{nil}" \
  --define "__strip /bin/true" --define "_build_id_links none" -bb "$top/SPECS/capstan.spec" >/dev/null
find "$top/RPMS" -name '*.rpm' -exec cp {} "$out/" \;
ls "$out"/capstan-"${version}"-1.*.rpm
