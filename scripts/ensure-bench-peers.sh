#!/usr/bin/env bash
# Makes sure the real peers a benchmark runs against are installed (Debian packages).
# sip (the default): kamailio (its dispatcher, tm, rr, sl and the other modules the bench
# config loads are all in the base package) and sip-tester (SIPp, the caller and the
# answerers). http: wrk (the load generator), nginx (the origin and a proxy) and haproxy.
# Run by `npm run bench -- sip|http` before it starts. Installs what is missing when it can (root with
# apt-get); else it says what to install and fails.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
if [ "${1:-sip}" = http ]; then
  have wrk || need+=(wrk)
  have nginx || need+=(nginx-light)
  have haproxy || need+=(haproxy)
else
  have kamailio || need+=(kamailio)
  have sipp || need+=(sip-tester)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing bench peers: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y --no-install-recommends "${need[@]}" >&2
  # Debian may start its own kamailio, nginx or haproxy; the bench runs its own instances on other ports.
  if command -v systemctl >/dev/null 2>&1; then systemctl stop kamailio nginx haproxy >/dev/null 2>&1 || true; fi
  exit 0
fi
echo "the ${1:-sip} benchmark needs these Debian packages: ${need[*]} (apt-get install -y ${need[*]})" >&2
exit 1
