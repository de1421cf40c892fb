#!/usr/bin/env bash
# Makes sure the real peers the SIP benchmark runs against are installed (Debian packages):
# kamailio (its dispatcher, tm, rr, sl and the other modules the bench config loads are all in
# the base package) and sip-tester (SIPp, the caller and the answerers). Run by
# `npm run bench -- sip` before it starts. Installs what is missing when it can (root with
# apt-get); else it says what to install and fails.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have kamailio || need+=(kamailio)
have sipp || need+=(sip-tester)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing bench peers: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y --no-install-recommends "${need[@]}" >&2
  # Debian may start its own kamailio on 5060; the bench runs its own instance on other ports.
  if command -v systemctl >/dev/null 2>&1; then systemctl stop kamailio >/dev/null 2>&1 || true; fi
  exit 0
fi
echo "the SIP benchmark needs these Debian packages: ${need[*]} (apt-get install -y ${need[*]})" >&2
exit 1
