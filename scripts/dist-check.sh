#!/usr/bin/env bash
# Checks a release archive the way a user without a Swift toolchain meets it (issue 32):
#   1. unpacks it into an empty directory and checks SHA256SUMS;
#   2. the binary links no Swift runtime (ldd: no libswift*, libFoundation*, libdispatch, nothing
#      from the toolchain, nothing missing), and every C library it links directly comes from a
#      package of RUNTIME_PACKAGES, the archive README's apt-get line, or libc/libgcc/libstdc++/zlib;
#   3. runs `mend --version`, the root help and `mend demo` with an emptied environment and, when
#      the kernel allows a mount namespace, with the toolchain's directory hidden under an empty
#      tmpfs; in a Debian 12 chroot too when DIST_CHROOT names one (scripts/dist-chroot.sh);
#   4. the man page renders, the completions parse, `make install DESTDIR=…` puts each file where
#      it belongs and `make uninstall` removes them;
#   5. the systemd units pass `systemd-analyze verify` (with no warning) and an exposure threshold,
#      use only flags mend has, and stop mend's graceful shutdown before systemd's SIGKILL.
# Usage: RUNTIME_PACKAGES="..." scripts/dist-check.sh dist/mend-VERSION-linux-x86_64.tar.gz
set -euo pipefail
archive=$(readlink -f "${1:?usage: dist-check.sh ARCHIVE}")
RUNTIME_PACKAGES=${RUNTIME_PACKAGES:?RUNTIME_PACKAGES is the archive README apt-get line}
repo=$(cd "$(dirname "$0")/.." && pwd)
version=$(tr -d '[:space:]' <"$repo/VERSION")
started=$(date +%s)

fail() {
    echo "dist-check: FAIL: $*" >&2
    exit 1
}
step() { echo "dist-check: $*"; }

tmp=$(mktemp -d /tmp/mend-dist-check.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/unpacked"
tar -xzf "$archive" -C "$tmp/unpacked"
pkg=$(find "$tmp/unpacked" -mindepth 1 -maxdepth 1 -type d)
[ "$(basename "$pkg")" = "$(basename "$archive" .tar.gz)" ] || fail "the archive's top directory is not $(basename "$archive" .tar.gz)"
bin=$pkg/bin/mend
(cd "$pkg" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS does not match"
step "unpacked into an empty directory, SHA256SUMS match ($(du -h "$archive" | cut -f1) archive)"

# 2. What the binary links.
swift_bin=$(command -v "${SWIFT:-swift}" || true)
toolchain=${swift_bin:+$(dirname "$(dirname "$(dirname "$(readlink -f "$swift_bin")")")")}
links=$(env -i PATH=/usr/bin:/bin ldd "$bin")
echo "$links" | sed 's/^/    /'
! echo "$links" | grep -Eq 'libswift|libFoundation|lib_Foundation|libdispatch|libBlocksRuntime' || fail "the binary links the Swift runtime"
[ -z "$toolchain" ] || ! echo "$links" | grep -qF "$toolchain/" || fail "the binary links a library from $toolchain"
! echo "$links" | grep -q 'not found' || fail "a library the binary needs is missing"
# SwiftPM sets RUNPATH $ORIGIN (the binary's own directory); any other path could reach a toolchain.
rpath=$(readelf -d "$bin" | sed -n 's/.*(R\(UN\)\{0,1\}PATH).*\[\(.*\)\]/\2/p')
[ -z "$rpath" ] || [ "$rpath" = '$ORIGIN' ] || fail "the binary's RUNPATH is $rpath"
for soname in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    # "soname => path (address)", or "path (address)" for the dynamic loader.
    path=$(echo "$links" | awk -v s="$soname" '$1 == s { print $3 } $1 ~ "/" s "$" { print $1 }')
    [ -n "$path" ] || fail "ldd does not resolve $soname"
    real=$(readlink -f "$path")
    # usrmerge: dpkg may know the file under /lib or under /usr/lib.
    owner=$(dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || dpkg -S "/usr$real" 2>/dev/null) ||
        fail "no Debian package owns $real ($soname)"
    owner=${owner%%:*}
    # Besides the README's line, only packages that every Debian system has (priority required).
    case " $RUNTIME_PACKAGES libc6 libgcc-s1 libstdc++6 zlib1g " in
        *" $owner "*) ;;
        *) fail "$soname comes from $owner, which is not in the archive README's apt-get line ($RUNTIME_PACKAGES)" ;;
    esac
done
for readme in "$pkg/README.md" "$repo/README.md"; do
    grep -qF "apt-get install $RUNTIME_PACKAGES" "$readme" || fail "$readme does not name 'apt-get install $RUNTIME_PACKAGES'"
done
step "links no Swift runtime; its C libraries come from: $RUNTIME_PACKAGES (+ libc6 libgcc-s1 libstdc++6 zlib1g)"

# 3. Runs with nothing of the toolchain reachable. The demo writes only under $TMPDIR.
cat >"$tmp/run.sh" <<'EOF'
set -euo pipefail
cd "$1"
mend=$2
version=$3
out=$("$mend" --version)
echo "    $out"
[[ $out =~ ^mend\ $version\ \(commit\ [0-9a-f]{7,}(-dirty)?,\ built\ [0-9]{4}-[0-9]{2}-[0-9]{2}T ]] || { echo "unexpected --version: $out" >&2; exit 1; }
"$mend" --help | grep -qF "Version: $out" || { echo "the root help does not show '$out'" >&2; exit 1; }
"$mend" demo >demo.out 2>&1 || { cat demo.out >&2; exit 1; }
grep -q 'verify: OK' demo.out && grep -q '^Done\.' demo.out || { cat demo.out >&2; echo "demo did not finish" >&2; exit 1; }
echo "    demo: $(grep -c . demo.out) lines, audit verify OK"
EOF
mkdir "$tmp/run"
clean_env=(env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$tmp/run" TMPDIR="$tmp/run" LANG=C.UTF-8)
if [ -n "$toolchain" ] && unshare -m --propagation private true 2>/dev/null; then
    # A private mount namespace: the toolchain's directory is an empty tmpfs for this process only.
    "${clean_env[@]}" unshare -m --propagation private \
        bash -c 'mount -t tmpfs -o ro,size=1m none "$0" && exec bash "$@"' "$toolchain" \
        "$tmp/run.sh" "$tmp/run" "$bin" "$version" || fail "mend does not run with $toolchain hidden"
    step "ran --version, --help and demo with an empty environment and $toolchain hidden (mount namespace)"
else
    "${clean_env[@]}" bash "$tmp/run.sh" "$tmp/run" "$bin" "$version" || fail "mend does not run with an empty environment"
    step "ran --version, --help and demo with an empty environment (no mount namespace here: the toolchain was on disk)"
fi
if [ -n "${DIST_CHROOT:-}" ]; then
    # A Debian 12 minbase with RUNTIME_PACKAGES only: no toolchain, no -dev packages, no build tools.
    inside=/tmp/mend-dist-check
    rm -rf "$DIST_CHROOT$inside" && mkdir -p "$DIST_CHROOT$inside/run"
    cp -a "$pkg" "$DIST_CHROOT$inside/pkg"
    cp "$tmp/run.sh" "$DIST_CHROOT$inside/run.sh"
    # The chroot's /proc is the host's, bound in a private mount namespace that ends with the run:
    # without /proc the Swift runtime reads no command-line arguments (mend --version prints the help).
    env -i PATH=/usr/bin:/bin HOME=$inside/run TMPDIR=$inside/run LANG=C.UTF-8 \
        "$(command -v unshare)" -m --propagation private \
        bash -c 'mount --bind /proc "$0/proc" && exec "$1" "$0" bash "${@:2}"' "$DIST_CHROOT" "$(command -v chroot)" \
        $inside/run.sh $inside/run $inside/pkg/bin/mend "$version" ||
        fail "mend does not run in the Debian chroot $DIST_CHROOT"
    rm -rf "${DIST_CHROOT:?}$inside"
    step "ran --version, --help and demo in the Debian 12 chroot $DIST_CHROOT"
fi

# 4. Man page, completions, install.
man -l -Tutf8 "$pkg/share/man/man1/mend.1" 2>"$tmp/man.err" | grep -q 'mend serve' || fail "the man page does not render or lacks 'mend serve'"
[ ! -s "$tmp/man.err" ] || fail "the man page renders with warnings: $(cat "$tmp/man.err")"
bash -n "$pkg/share/bash-completion/completions/mend" || fail "the bash completion does not parse"
bash -c 'source "$1" && complete -p mend' _ "$pkg/share/bash-completion/completions/mend" >/dev/null || fail "the bash completion registers nothing for mend"
grep -q '^#compdef mend' "$pkg/share/zsh/site-functions/_mend" || fail "the zsh completion is not a #compdef mend file"
! command -v zsh >/dev/null || zsh -n "$pkg/share/zsh/site-functions/_mend" || fail "the zsh completion does not parse"
grep -Eq "complete -c '?mend'? " "$pkg/share/fish/vendor_completions.d/mend.fish" || fail "the fish completion completes nothing for mend"
! command -v fish >/dev/null || fish -n "$pkg/share/fish/vendor_completions.d/mend.fish" || fail "the fish completion does not parse"
root=$tmp/root
make -s -C "$pkg" install DESTDIR="$root" PREFIX=/usr/local >/dev/null
for f in bin/mend share/man/man1/mend.1 share/bash-completion/completions/mend share/zsh/site-functions/_mend \
    share/fish/vendor_completions.d/mend.fish; do
    [ -f "$root/usr/local/$f" ] || fail "make install did not install /usr/local/$f"
done
[ -x "$root/usr/local/bin/mend" ] || fail "the installed mend is not executable"
make -s -C "$pkg" uninstall DESTDIR="$root" PREFIX=/usr/local >/dev/null
[ -z "$(find "$root" -type f)" ] || fail "make uninstall left $(find "$root" -type f | head -1)"
make -s -C "$pkg" install DESTDIR="$root" PREFIX=/usr/local >/dev/null
step "man page renders; completions parse; make install/uninstall DESTDIR=… PREFIX=/usr/local place and remove 5 files"

# 5. The systemd units, offline: a root with the installed mend, the host's systemd units and empty
# environment files, so verify sees the units as a machine would.
units=$pkg/contrib/systemd
mkdir -p "$root/etc/systemd/system" "$root/usr/lib/systemd" "$root/etc/mend"
cp -r /lib/systemd/system "$root/usr/lib/systemd/"
cp "$units"/*.service "$root/etc/systemd/system/"
touch "$root/etc/mend/serve.env" "$root/etc/mend/consume-check.env"
for unit in mend-serve.service mend-consume@check.service; do
    systemd-analyze verify --root="$root" --man=no "$unit" >"$tmp/verify.out" 2>&1 || fail "systemd-analyze verify $unit: $(cat "$tmp/verify.out")"
    [ ! -s "$tmp/verify.out" ] || fail "systemd-analyze verify $unit warns: $(cat "$tmp/verify.out")"
    # Exposure 0.0 (locked down) to 10.0 (exposed); the threshold is ten times it.
    systemd-analyze security --offline=true --root="$root" --threshold=25 --no-pager "$unit" >"$tmp/security.out" 2>&1 ||
        fail "$unit is more exposed than 2.5: $(tail -1 "$tmp/security.out")"
    step "$unit: systemd-analyze verify clean; $(tail -1 "$tmp/security.out" | sed 's/^→ //')"
done
for file in "$units"/*.service; do
    exec_start=$(sed -n 's/^ExecStart=//p' "$file")
    sub=$(echo "$exec_start" | awk '{ print $2 }')
    help=$("$bin" "$sub" --help)
    for flag in $(echo "$exec_start" | grep -o -- '--[a-z-]*'); do
        grep -qE -- "(^|[^a-z-])$flag([^a-z-]|\$)" <<<"$help" || fail "$(basename "$file") passes $flag, which mend $sub does not take"
    done
    grace=$(echo "$exec_start" | sed -n 's/.*--shutdown-timeout \([0-9]*\).*/\1/p')
    stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$file")
    [ -n "$grace" ] && [ -n "$stop" ] || fail "$(basename "$file") sets no --shutdown-timeout or no TimeoutStopSec (seconds)"
    [ "$grace" -lt "$stop" ] && [ "$stop" -le $((grace + 15)) ] ||
        fail "$(basename "$file"): --shutdown-timeout $grace must be below TimeoutStopSec=$stop, by at most 15 s"
done
step "the units pass only flags mend takes; --shutdown-timeout is below TimeoutStopSec in each"
step "OK in $(($(date +%s) - started)) s"
