#!/bin/sh
# Install the Debian packages the tests need that are missing, and nothing when all are present.
# Idempotent; the Makefile's test target calls it before pytest. Today: the PostgreSQL server
# (initdb, postgres), which the archive tests start on a free loopback port of their own; chromium,
# which the console's browser tests drive through Playwright.
set -eu

missing=""
# initdb is not on PATH on Debian (it lives in /usr/lib/postgresql/<version>/bin), so look there too
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    missing="$missing postgresql"
fi
if [ ! -x /usr/bin/chromium ]; then
    missing="$missing chromium"
fi
# the console is in Chinese: without a CJK font its screenshots show boxes
if ! (command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh family 2>/dev/null)" ]); then
    missing="$missing fonts-noto-cjk"
fi

if [ -z "$missing" ]; then
    echo "install-system-packages: nothing to install"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-system-packages: need root (or sudo) to install:$missing" >&2
        exit 1
    fi
else
    SUDO=""
fi

echo "install-system-packages: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086  # $missing is a list of package names
$SUDO apt-get install -y -q --no-install-recommends $missing
