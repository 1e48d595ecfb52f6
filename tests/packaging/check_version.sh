#!/usr/bin/env bash
# check_version.sh — the version policy of README.md ("Versions") holds for the build: the shared
# library's soname, the CMake package's compatibility and aurum.pc all follow the three numbers of
# include/aurum/version.h.
#
#   check_version.sh <cmake> <version.h> <libaurum.so> <aurumConfigVersion.cmake> <aurum.pc>
#
# Policy: while MAJOR is 0, soname libaurum.so.0.MINOR and find_package(aurum 0.MINOR[.p]) is
# satisfied by 0.MINOR.PATCH (p <= PATCH) only; from 1.0, soname libaurum.so.MAJOR and any
# MAJOR.y.z with y.z not older than the request satisfies it. Exit status: 0 pass, 1 fail, 2 usage.
set -u -o pipefail
if [[ $# -ne 5 ]]; then
    echo "usage: $0 <cmake> <version.h> <libaurum.so> <aurumConfigVersion.cmake> <aurum.pc>" >&2
    exit 2
fi
cmake=$1 header=$2 lib=$3 vfile=$4 pc=$5
here=$(cd "$(dirname "$0")" && pwd)
export LC_ALL=C

number() { sed -nE "s/^#define AURUM_VERSION_$1 +([0-9]+)\$/\\1/p" "$header"; }
major=$(number MAJOR) minor=$(number MINOR) patch=$(number PATCH)
if [[ -z $major || -z $minor || -z $patch ]]; then
    echo "FAIL: $header does not define AURUM_VERSION_MAJOR, _MINOR and _PATCH" >&2
    exit 1
fi
version=$major.$minor.$patch
rc=0
fail() { echo "FAIL: $*"; rc=1; }

# The soname.
if [[ $major == 0 ]]; then want_soname=libaurum.so.0.$minor; else want_soname=libaurum.so.$major; fi
soname=$(readelf -d "$lib" | sed -nE 's/.*\(SONAME\).*\[(.*)\].*/\1/p')
[[ $soname == "$want_soname" ]] || fail "soname of ${lib##*/} is '$soname', the policy says $want_soname"

# find_package(aurum REQ): what the version file decides.
decide() { "$cmake" -DVERSION_FILE="$vfile" -DREQ="$1" -P "$here/find_version.cmake" 2>&1; }
expect() {
    local req=$1 want=$2 got
    got=$(decide "$req")
    [[ $got == "$want" ]] || fail "find_package(aurum $req) against $version: '$got', want $want"
}
expect "$version" compatible
expect "$major.$minor" compatible
expect "$((major + 1)).0" incompatible
expect "$major.$minor.$((patch + 1))" incompatible   # newer than what is installed
if [[ $major == 0 ]]; then
    expect "0.$((minor + 1))" incompatible
    ((minor > 0)) && expect "0.$((minor - 1))" incompatible   # 0.x minors break the ABI
else
    expect "$major.0" compatible
    ((major > 1)) && expect "$((major - 1)).0" incompatible
fi

# aurum.pc.
pcv=$(sed -nE 's/^Version: *//p' "$pc")
[[ $pcv == "$version" ]] || fail "aurum.pc says Version: '$pcv', version.h says $version"

if [[ $rc -eq 0 ]]; then
    echo "ok: version $version: soname $soname, find_package compatibility and aurum.pc follow the policy"
fi
exit $rc
