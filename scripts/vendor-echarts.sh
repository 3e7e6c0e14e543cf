#!/usr/bin/env bash
# Vendor Apache ECharts (Apache-2.0) into the console's static files: the console serves it itself,
# officers' browsers on a government network reach no CDN. Run again to move to another version:
#   scripts/vendor-echarts.sh 5.6.0
# It takes the registry's package tarball (npm pack), checks its integrity against the registry's
# record, and keeps only dist/echarts.min.js with the package's LICENSE and NOTICE.
set -euo pipefail
version="${1:-5.6.0}"
target="$(cd "$(dirname "$0")/.." && pwd)/consumers/console/static/vendor/echarts"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack "echarts@${version}" --json > pack.json
tarball="echarts-${version}.tgz"
expected="$(npm view "echarts@${version}" dist.integrity)"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$expected" != "$actual" ]; then
    echo "echarts ${version}: integrity ${actual} differs from the registry's ${expected}" >&2
    exit 1
fi
tar xzf "$tarball" package/dist/echarts.min.js package/LICENSE package/NOTICE
mkdir -p "$target"
cp package/dist/echarts.min.js package/LICENSE package/NOTICE "$target/"
printf 'echarts %s %s\n' "$version" "$expected" > "$target/VERSION"
echo "vendored echarts ${version} into ${target}"
