#!/bin/sh
# Install the Debian packages the tests need that are missing, and nothing when all are present.
# Idempotent; the Makefile's test target calls it before pytest. Today: the PostgreSQL server
# (initdb, postgres), which the archive tests start on a free loopback port of their own; chromium,
# which the console's browser tests drive through Playwright; Prometheus (prometheus, promtool), which
# checks and unit-tests deploy/prometheus and which the observability tests start on a loopback port.
# Installing a package must not leave its system service running: Debian's prometheus would start one
# on :9090, so services are held back while it installs (policy-rc.d) and its unit is disabled after.
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
if [ ! -x /usr/bin/prometheus ] || [ ! -x /usr/bin/promtool ]; then
    missing="$missing prometheus"
fi

# stunnel: the TLS-terminating proxy (client certificates required) the Kafka TLS tests put before the broker
if ! command -v stunnel4 >/dev/null 2>&1; then
    missing="$missing stunnel4"
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

# Hold back every service start while installing (invoke-rc.d and deb-systemd-invoke ask policy-rc.d;
# 101: action forbidden). An existing policy-rc.d (containers ship one) is left as it is.
policy=/usr/sbin/policy-rc.d
own_policy=""
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# written by jiandu install-system-packages.sh while it installs; removed after\nexit 101\n' |
        $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    own_policy="yes"
    trap '$SUDO rm -f "$policy"' EXIT
fi

$SUDO apt-get update -q
# shellcheck disable=SC2086  # $missing is a list of package names
$SUDO apt-get install -y -q --no-install-recommends $missing

case " $missing " in
*" prometheus "*)
    # the package enables prometheus.service for boot; the tests start their own server on a free port
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    fi
    ;;
esac
if [ -n "$own_policy" ]; then
    $SUDO rm -f "$policy"
    trap - EXIT
fi
