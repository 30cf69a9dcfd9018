#!/usr/bin/env bash
# Installs the two syslog servers the syslog tests run against, when
# missing: rsyslog from Debian, and syslog-ng-core from Debian unpacked
# into /opt/logdriver-syslog-ng (the two packages conflict, both being
# "the system's log daemon", so only one can be installed). Neither is
# started here, nor as a service.
#   source tests/syslog/setup.sh   # then: rsyslogd, $SYSLOG_NG
set -euo pipefail
SYSLOG_NG_ROOT=/opt/logdriver-syslog-ng
needs=()
command -v rsyslogd >/dev/null || needs+=(rsyslog)
# rsyslog's TLS (its OpenSSL network stream driver).
dpkg -s rsyslog-openssl >/dev/null 2>&1 || needs+=(rsyslog-openssl)
command -v openssl >/dev/null || needs+=(openssl)
command -v busybox >/dev/null || needs+=(busybox-static)
if ! [ -x "$SYSLOG_NG_ROOT/usr/sbin/syslog-ng" ]; then
    # syslog-ng-core's libraries, which conflict with nothing.
    needs+=(libivykis0 libnet1 libwrap0 libjson-c5 libpcre3 libglib2.0-0 libcap2)
fi
if [ ${#needs[@]} -gt 0 ]; then
    echo "== syslog setup: installing ${needs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # No service is started in a container; rsyslog's would take /dev/log.
    apt-get install -y -qq "${needs[@]}" >/dev/null
fi
if ! [ -x "$SYSLOG_NG_ROOT/usr/sbin/syslog-ng" ]; then
    echo "== syslog setup: unpacking syslog-ng-core into $SYSLOG_NG_ROOT"
    deb=$(mktemp -d /tmp/logdriver-syslog-ng.XXXXXX)
    (cd "$deb" && apt-get download -qq syslog-ng-core 2>/dev/null)
    dpkg -x "$deb"/syslog-ng-core_*.deb "$SYSLOG_NG_ROOT"
    rm -rf "$deb"
fi
SYSLOG_NG_VERSION=$(basename "$(ls -d "$SYSLOG_NG_ROOT"/usr/lib/syslog-ng/[0-9]*)")
# syslog-ng FOREGROUND-ARGS…: the unpacked syslog-ng, with its libraries and modules.
syslog_ng() {
    LD_LIBRARY_PATH="$SYSLOG_NG_ROOT/usr/lib/syslog-ng" \
        "$SYSLOG_NG_ROOT/usr/sbin/syslog-ng" \
        --module-path="$SYSLOG_NG_ROOT/usr/lib/syslog-ng/$SYSLOG_NG_VERSION" "$@"
}
