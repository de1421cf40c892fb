#!/usr/bin/env bash
# Makes sure the real peers the tests run against are installed (Debian packages):
# haproxy, rsyslog, etcd-server, libasterisk-agi-perl, chromium (the dashboard's browser test), sip-tester
# (SIPp, the SIP caller and answerer of the SIP tests), iproute2 (ss), plus perl,
# python3 and openssl. Run by `npm test` (pretest) and by .ci/run. Installs what is missing when
# it can (root with apt-get); else it says what to install and fails: a test never skips
# silently because a tool is missing.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have haproxy || need+=(haproxy)
have rsyslogd || need+=(rsyslog)
have perl || need+=(perl)
have python3 || need+=(python3)
have openssl || need+=(openssl)
have sipp || need+=(sip-tester)
# ss reads TCP keep-alive timers in test/integration/tcp-keepalive.test.ts.
have ss || need+=(iproute2)
[ -f /usr/share/perl5/Asterisk/AGI.pm ] || need+=(libasterisk-agi-perl)
# etcd v3 (Debian's etcd-server): the etcd config source's tests run their own on loopback ports.
have etcd || need+=(etcd-server)
# etcdctl (etcd-client, only suggested by etcd-server): etcd-auth's tests add a user and turn auth on.
have etcdctl || need+=(etcd-client)
# test/e2e/dashboard.test.ts drives Debian's build by path (playwright-core downloads no browser).
[ -x /usr/bin/chromium ] || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing test peers: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y --no-install-recommends "${need[@]}" >&2
  # Debian may start the services; the tests run their own instances.
  if command -v systemctl >/dev/null 2>&1; then systemctl stop rsyslog haproxy etcd >/dev/null 2>&1 || true; fi
  exit 0
fi
echo "the tests need these Debian packages: ${need[*]} (apt-get install -y ${need[*]})" >&2
exit 1
