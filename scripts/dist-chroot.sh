#!/usr/bin/env bash
# Makes (once) a Debian 12 minbase chroot holding only RUNTIME_PACKAGES, where dist-check runs the
# release binary: no Swift toolchain, no -dev packages, no compiler. Debian packages only, from the
# mirror apt is configured with. Needs root (debootstrap, chroot).
# Usage: RUNTIME_PACKAGES="..." scripts/dist-chroot.sh DIR
set -euo pipefail
dir=${1:?usage: dist-chroot.sh DIR}
RUNTIME_PACKAGES=${RUNTIME_PACKAGES:?RUNTIME_PACKAGES is the archive README apt-get line}
want="bookworm minbase $RUNTIME_PACKAGES"

# Made already with the same packages: reuse it (making it is the slow part, see docs/benchmarks.md).
have=$(cat "$dir/.mend-dist-chroot" 2>/dev/null || true)
[ "$have" != "$want" ] || exit 0
# Made with fewer packages: add the new ones (seconds) rather than make it again (minutes).
if [ -f "$dir/etc/debian_version" ] && [[ $have == "bookworm minbase "* ]]; then
    dropped=""
    for p in ${have#bookworm minbase }; do [[ " $RUNTIME_PACKAGES " == *" $p "* ]] || dropped="$dropped $p"; done
    if [ -z "$dropped" ]; then
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$(command -v chroot)" "$dir" \
            bash -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $RUNTIME_PACKAGES && apt-get clean" >"$dir.log" 2>&1 ||
            { tail -20 "$dir.log" >&2; exit 1; }
        echo "$want" >"$dir/.mend-dist-chroot"
        echo "dist-chroot: added to $dir: $RUNTIME_PACKAGES"
        exit 0
    fi
fi
if ! command -v debootstrap >/dev/null; then
    apt-get install -y -qq debootstrap >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
fi
mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list)
rm -rf "$dir"
mkdir -p "$(dirname "$dir")"
start=$(date +%s)
debootstrap --variant=minbase --include="$(echo "$RUNTIME_PACKAGES" | tr ' ' ',')" bookworm "$dir" "$mirror" >"$dir.log" 2>&1 ||
    { tail -20 "$dir.log" >&2; exit 1; }
# Nothing of the build machine's: no apt cache to keep.
rm -rf "$dir"/var/cache/apt/archives/*.deb
echo "$want" >"$dir/.mend-dist-chroot"
echo "dist-chroot: made $dir in $(($(date +%s) - start)) s ($(du -sh "$dir" | cut -f1))"
