#!/bin/sh
# Programs the test suite drives besides Python packages, from Debian's archive:
#   Chromium  - the console's browser tests (Playwright drives /usr/bin/chromium; its own browser
#               download is not reachable here), installed with apt-get (needs root);
#   promtool  - checks the Prometheus alert rules and dashboards' queries; taken out of Debian's
#               `prometheus` package into ./.tools/bin without installing it (installing would set
#               up a Prometheus server service).
# Nothing is started. Without them those tests are skipped, and fail under CI=true.
set -eu
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get install -y -q --no-install-recommends chromium >/dev/null \
            || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium >/dev/null; }
    else
        echo "test-tools: install Debian's chromium (sudo apt-get install chromium) for the browser tests" >&2
    fi
fi

if ! command -v promtool >/dev/null 2>&1 && [ ! -x .tools/bin/promtool ]; then
    if command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; then
        work=$(mktemp -d)
        (cd "$work" && { apt-get download -q prometheus >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null && apt-get download -q prometheus >/dev/null; }; } \
            && dpkg-deb -x prometheus_*.deb extracted)
        mkdir -p .tools/bin
        cp "$work/extracted/usr/bin/promtool" .tools/bin/promtool
        rm -rf "$work"
    else
        echo "test-tools: install promtool (Debian package prometheus) for the alert-rule tests" >&2
    fi
fi
