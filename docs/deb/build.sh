#!/bin/sh
# Builds the Debian packages koffer and koffer-townhall with dpkg-deb from the binaries in BIN:
#   docs/deb/build.sh BIN OUT VERSION
# (`make deb` calls it). Everything a package holds is listed here; owners are root in the
# archive (--root-owner-group) and the service users' files are made by postinst. Timestamps
# are SOURCE_DATE_EPOCH (default: the last commit), so the same commit builds the same bytes.
# gzip, not xz: xz took 15 s more on two cores for 3 MB less.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=$1 out=$2 version=$3
arch=$(dpkg --print-architecture)
: "${SOURCE_DATE_EPOCH:=$(git -C "$here" log -1 --format=%ct 2>/dev/null || date +%s)}"
export SOURCE_DATE_EPOCH
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# control NAME DEPENDS DESCRIPTION: writes DEBIAN/control, the maintainer scripts with the
# systemd snippet filled in, conffiles and md5sums.
control() {
	root=$work/$1
	mkdir -p "$root/DEBIAN"
	cat >"$root/DEBIAN/control" <<CONTROL
Package: $1
Version: $version
Architecture: $arch
Maintainer: koffer maintainers <koffer@example.invalid>
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $2
Section: admin
Priority: optional
Homepage: https://example.invalid/koffer
Description: $3
CONTROL
	for s in postinst prerm postrm; do
		awk -v unit="$1.service" -v snip="$here/systemd-postinst" '
			/^#SYSTEMD#$/ { while ((getline l < snip) > 0) { gsub(/#UNIT#/, unit, l); print l }; next }
			{ print }' "$here/$1/$s" >"$root/DEBIAN/$s"
		chmod 0755 "$root/DEBIAN/$s"
	done
	install -m 0644 "$here/$1/conffiles" "$root/DEBIAN/conffiles"
	(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
	find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	dpkg-deb --root-owner-group -Zgzip --build "$root" "$out/$1_${version}_$arch.deb" >/dev/null
	echo "$out/$1_${version}_$arch.deb"
}

# koffer: the agent and CLI.
r=$work/koffer
install -D -m 0755 "$bin/koffer" "$r/usr/bin/koffer"
install -D -m 0644 "$here/koffer/koffer.service" "$r/usr/lib/systemd/system/koffer.service"
install -D -m 0644 "$here/koffer/60-koffer.rules" "$r/usr/lib/udev/rules.d/60-koffer.rules"
install -D -m 0640 "$here/koffer/koffer.toml" "$r/etc/koffer/koffer.toml"
install -D -m 0640 "$here/koffer/kit.toml" "$r/etc/koffer/kit.toml"
install -d -m 0755 "$r/usr/share/bash-completion/completions" "$r/usr/share/zsh/vendor-completions" \
	"$r/usr/share/fish/vendor_completions.d" "$r/usr/share/man/man1" "$r/usr/share/doc/koffer"
"$bin/koffer" completion bash >"$r/usr/share/bash-completion/completions/koffer"
"$bin/koffer" completion zsh >"$r/usr/share/zsh/vendor-completions/_koffer"
"$bin/koffer" completion fish >"$r/usr/share/fish/vendor_completions.d/koffer.fish"
"$bin/koffer" man "$r/usr/share/man/man1" >/dev/null
gzip -9n "$r"/usr/share/man/man1/*.1
install -m 0644 "$here/../layout.md" "$here/../ui.md" "$here/../case-file.md" "$r/usr/share/doc/koffer/"
find "$r/usr/share" -type f -exec chmod 0644 {} +
control koffer "adduser, libc6, libusb-1.0-0, init-system-helpers" "field kit agent of the Bürgerkoffer
 The local daemon of a municipal mobile citizen-service kit: drives the kit's
 printer, scanner and fingerprint reader, captures applications into an
 encrypted queue with or without signal and syncs them to the town hall."

# koffer-townhall: the reference town hall backend.
r=$work/koffer-townhall
install -D -m 0755 "$bin/townhall" "$r/usr/bin/townhall"
install -D -m 0644 "$here/koffer-townhall/koffer-townhall.service" "$r/usr/lib/systemd/system/koffer-townhall.service"
install -D -m 0640 "$here/koffer-townhall/koffer-townhall.default" "$r/etc/default/koffer-townhall"
install -d -m 0755 "$r/usr/share/bash-completion/completions" "$r/usr/share/doc/koffer-townhall"
"$bin/townhall" completion bash >"$r/usr/share/bash-completion/completions/townhall"
install -m 0644 "$here/../../sync/README.md" "$r/usr/share/doc/koffer-townhall/README.md"
find "$r/usr/share" -type f -exec chmod 0644 {} +
control koffer-townhall "adduser, libc6, init-system-helpers" "town hall backend for Bürgerkoffer kits
 Receives the kits' sealed application packets over tus with mutual TLS,
 returns signed receipts, prepares visit packs and keeps the kit fleet."
