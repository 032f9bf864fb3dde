#!/usr/bin/env bash
# Builds dist/mend-VERSION-linux-x86_64.tar.gz: the release binary with the Swift standard library
# and Foundation linked statically, its man page and shell completions, the systemd units, an
# install Makefile, README, licences and SHA256SUMS (issue 32, docs/decisions.md D24).
#
# The build runs in a staged copy of the working tree (.build-dist/src) whose Version.swift carries
# the release's version, commit and build date; the working tree itself is never rewritten.
# The copy keeps its path and unchanged files, so a second `make dist` is incremental.
#
# Env: SWIFT (default swift), RUNTIME_PACKAGES (the archive README's apt-get line),
#      SOURCE_DATE_EPOCH (build date, default now).
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
RUNTIME_PACKAGES=${RUNTIME_PACKAGES:?RUNTIME_PACKAGES is the apt-get line the archive README names}

version=$(tr -d '[:space:]' <VERSION)
commit=$(git rev-parse --short=12 HEAD)
# Uncommitted changes are built too, and the commit says so.
[ -z "$(git status --porcelain)" ] || commit="$commit-dirty"
name="mend-$version-linux-$(uname -m)"

stage=.build-dist
src=$stage/src
pkg=$stage/pkg/$name
mkdir -p "$src" dist

# The build date of a clean commit is that of its first release build here: `make dist` again (or
# `make install`, which runs it) rebuilds nothing. Anything else gets a new date and a new build.
stamp=$src/Sources/mend/Version.swift
if [ -z "${SOURCE_DATE_EPOCH:-}" ] && [[ $commit != *-dirty ]] && [ -f "$stamp" ] \
    && grep -qxF "    static let version = \"$version\"" "$stamp" && grep -qxF "    static let commit = \"$commit\"" "$stamp"; then
    date=$(sed -n 's/^    static let date = "\(.*\)"$/\1/p' "$stamp")
else
    date=$(date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" +%Y-%m-%dT%H:%M:%SZ)
fi

# Stage the tracked and untracked-but-not-ignored files. A file is copied only when it differs, so
# unchanged sources keep their inode and mtime and SwiftPM does not recompile them.
git ls-files -z --cached --others --exclude-standard >"$stage/files"
[ -f Package.resolved ] && printf 'Package.resolved\0' >>"$stage/files" # pins of the dev build, if any
while IFS= read -r -d '' f; do
    [ -f "$f" ] || continue # deleted but not yet committed
    [ "$src/$f" != "$stamp" ] || continue # written below
    if ! cmp -s "$f" "$src/$f"; then
        mkdir -p "$(dirname "$src/$f")"
        cp -p "$f" "$src/$f"
    fi
done <"$stage/files"
# Files gone from the tree must not linger in the copy (a stale .swift file would still compile).
(cd "$src" && find . \( -path ./.build -o -path ./.swiftpm -o -path ./Package.resolved \) -prune -o -type f -print0) | while IFS= read -r -d '' f; do
    f=${f#./}
    grep -qzxF -- "$f" "$stage/files" || rm -f "$src/$f"
done

cat >"$stage/Version.swift" <<EOF
// Written by scripts/dist.sh for this release build; the committed file holds a source build's values.
enum BuildInfo {
    static let version = "$version"
    static let commit = "$commit"
    static let date = "$date"

    static var description: String { "mend \\(version) (commit \\(commit), built \\(date))" }
}
EOF
# Replaced only when it changes, so an unchanged build stays a no-op.
cmp -s "$stage/Version.swift" "$stamp" || cp "$stage/Version.swift" "$stamp"

echo "dist: building mend $version ($commit) in $src, release, static Swift stdlib"
start=$(date +%s)
# The MCP SDK imports FoundationNetworking, whose static archive calls libcurl; the toolchain's
# static link line does not name it, so Debian's libcurl is linked, dynamically (D24).
(cd "$src" && $SWIFT build -c release --static-swift-stdlib -Xlinker -lcurl)
echo "dist: release build took $(($(date +%s) - start)) s"
bin=$src/.build/release/mend

# generate-manual is the tool behind swift-argument-parser's generate-manual plugin. Run directly on
# the binary that ships, not through `swift package plugin generate-manual`, which rebuilds every
# product in its own configuration (without --static-swift-stdlib) and so relinks this one (D24).
ap=$src/.build/checkouts/swift-argument-parser
$SWIFT build --package-path "$ap" --scratch-path "$stage/tools" --product generate-manual >/dev/null

rm -rf "$stage/pkg"
mkdir -p "$pkg/bin" "$pkg/share/man/man1" "$pkg/share/bash-completion/completions" \
    "$pkg/share/zsh/site-functions" "$pkg/share/fish/vendor_completions.d" "$pkg/contrib"
# Debug info is most of the binary's size (docs/benchmarks.md); a crash backtrace then shows addresses only.
strip -o "$pkg/bin/mend" "$bin"
"$stage/tools/debug/generate-manual" "$pkg/bin/mend" --date "${date%%T*}" --output-directory "$pkg/share/man/man1"
# The help's blank lines between paragraphs come out as blank lines, which mdoc warns about: .Pp is its paragraph.
sed -i 's/^$/.Pp/' "$pkg/share/man/man1/mend.1"
"$pkg/bin/mend" --generate-completion-script bash >"$pkg/share/bash-completion/completions/mend"
"$pkg/bin/mend" --generate-completion-script zsh >"$pkg/share/zsh/site-functions/_mend"
"$pkg/bin/mend" --generate-completion-script fish >"$pkg/share/fish/vendor_completions.d/mend.fish"
cp -r contrib/systemd "$pkg/contrib/"
cp contrib/dist/Makefile "$pkg/Makefile"
sed -e "s/@VERSION@/$version/g" -e "s/@NAME@/$name/g" -e "s/@RUNTIME_PACKAGES@/$RUNTIME_PACKAGES/g" \
    contrib/dist/README.md >"$pkg/README.md"
cp LICENSE "$pkg/LICENSE"

# The static binary carries the Swift runtime, Foundation (with ICU data) and the package
# dependencies: their licences travel with it (every resolved package's, to be sure).
{
    echo "Licences of the software linked into bin/mend, besides Mend itself (LICENSE)."
    toolchain=$(dirname "$(dirname "$(readlink -f "$(command -v "$SWIFT")")")")
    printf '\n==== Swift runtime and Foundation (%s) ====\n\n' "$($SWIFT --version 2>/dev/null | head -1)"
    cat "$toolchain/share/swift/LICENSE.txt"
    for dir in "$src"/.build/checkouts/*/; do
        for f in "$dir"LICENSE* "$dir"NOTICE* "$dir"COPYING*; do
            [ -f "$f" ] || continue
            printf '\n==== %s: %s ====\n\n' "$(basename "$dir")" "$(basename "$f")"
            cat "$f"
        done
    done
} >"$pkg/THIRD_PARTY_LICENSES"

(cd "$pkg" && find . -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
archive=dist/$name.tar.gz
# Fixed owner and mtime: the archive's bytes depend on its contents only.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="$date" -C "$stage/pkg" -cf - "$name" | gzip -n >"$archive"
(cd dist && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
echo "dist: $archive ($(du -h "$archive" | cut -f1)), binary $(du -h "$pkg/bin/mend" | cut -f1) stripped, $(du -h "$bin" | cut -f1) unstripped"
