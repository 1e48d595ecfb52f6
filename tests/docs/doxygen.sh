#!/usr/bin/env bash
# doxygen.sh — the API reference from the public headers (docs/Doxyfile), warnings as errors.
# `make docs` runs it into build/docs; ctest runs it (docs_doxygen) into the build tree, so a
# doc comment doxygen cannot read fails the suite. Checks that every public header got its page.
#
#   doxygen.sh <source-dir> <output-dir>
# Exit status: 0 generated without a warning, 1 a warning or a missing page, 2 usage,
# 77 doxygen is not installed (`make docs` and `make test` install it: Debian package doxygen).
set -u -o pipefail
if [[ $# -ne 2 ]]; then
    echo "usage: $0 <source-dir> <output-dir>" >&2
    exit 2
fi
src=$(cd "$1" && pwd) out=$2
if ! command -v doxygen >/dev/null 2>&1; then
    echo "skipping: doxygen is not installed (make docs installs the Debian package doxygen)"
    exit 77
fi
mkdir -p "$out" && out=$(cd "$out" && pwd)
v=include/aurum/version.h
version=$(for p in MAJOR MINOR PATCH; do sed -n "s/^#define AURUM_VERSION_$p \([0-9]*\).*/\1/p" "$src/$v"; done | paste -sd.)
rm -rf "$out/html"
cd "$src" || exit 2
if ! AU_DOCS_OUT=$out AU_DOCS_VERSION=$version doxygen docs/Doxyfile >"$out/doxygen.log" 2>&1; then
    cat "$out/doxygen.log"
    echo "docs: doxygen reported warnings (WARN_AS_ERROR): fix the doc comments above"
    exit 1
fi
if [[ -s $out/doxygen.log ]]; then # QUIET: anything printed is a warning doxygen did not fail on
    cat "$out/doxygen.log"
    echo "docs: doxygen printed the above"
    exit 1
fi
rc=0
for h in include/aurum/*.h; do
    name=$(basename "$h" .h)
    page=$out/html/${name//_/__}_8h.html
    [[ -s $page ]] || { echo "docs: no page for $h ($page)"; rc=1; }
done
[[ $rc -eq 0 ]] && echo "docs: API reference $version of $(ls include/aurum/*.h | wc -l) headers in $out/html/index.html, no warning"
exit $rc
