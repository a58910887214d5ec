#!/bin/sh
# make deb: builds the Debian packages from contrib/debian/ into build/deb/.
# The repository keeps no debian/ at its top, so a copy of the tracked files
# (the working tree's, uncommitted changes included) is made in
# build/deb/collector-agent-VERSION/ with contrib/debian/ as its debian/,
# and dpkg-buildpackage runs there; the .deb, .buildinfo and .changes
# files land in build/deb/.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
version=$(sed -n 's/^VERSION *:= *//p' Makefile)
out=build/deb
src=$out/collector-agent-$version
rm -rf "$out"
mkdir -p "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# Deleted but not yet committed files are listed too; skip them.
	git ls-files -z | xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf - | tar -xf - -C "$src"
else
	tar --exclude=./build -cf - . | tar -xf - -C "$src"
fi
cp -R contrib/debian "$src/debian"
# The changelog's version is the package's; it must be the Makefile's.
deb_version=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' "$src/debian/changelog")
if [ "$deb_version" != "$version" ]; then
	echo "deb: contrib/debian/changelog says $deb_version, the Makefile $version" >&2
	exit 1
fi
jobs=${DEB_JOBS:-$(nproc 2>/dev/null || echo 1)}
cd "$src"
DEB_BUILD_OPTIONS="nocheck parallel=$jobs${DEB_BUILD_OPTIONS:+ $DEB_BUILD_OPTIONS}" \
	dpkg-buildpackage -us -uc -b
cd "$top"
ls -l "$out"/*.deb
