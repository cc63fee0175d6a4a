#!/usr/bin/env bash
# A host firewall rule that keeps contaxy's project networks apart at all times.
#
# Docker isolates bridge networks from each other with its own iptables rules
# in the filter table (DOCKER-ISOLATION-STAGE-*, FORWARD), and Docker 20.10
# rewrites them on every network change; a connection opened in such a moment
# can get through (docs/networks.md). Docker never touches the mangle table,
# whose FORWARD chain every routed packet passes before the filter table's.
# The worker names every project bridge cx-<12 hex>
# (com.docker.network.bridge.name), so one rule there drops what is routed
# from one project bridge to another, whatever state Docker's rules are in:
#
#   iptables -t mangle -I FORWARD -i cx-+ -o cx-+ -m physdev ! --physdev-is-bridged -j DROP
#
# Traffic inside one project bridge is bridged, not routed, so it passes
# (with br_netfilter loaded it meets the rule as bridged; without, never).
# Run it on every Docker host the workers use (scripts/provision.sh does here).
# Idempotent; needs root and iptables with the physdev match.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"

rule=(-i "cx-+" -o "cx-+" -m physdev ! --physdev-is-bridged -j DROP)

command -v iptables >/dev/null || fail "iptables is missing" "apt-get install iptables"
if iptables -t mangle -C FORWARD "${rule[@]}" 2>/dev/null; then
  log "project bridges are kept apart (mangle FORWARD)"
  exit 0
fi
log "keeping project bridges apart: a rule in mangle FORWARD"
iptables -t mangle -I FORWARD 1 "${rule[@]}" \
  || fail "cannot add the rule to the mangle table's FORWARD chain" \
    "the kernel needs the xt_physdev module (modprobe xt_physdev); run 'iptables -t mangle -I FORWARD 1 ${rule[*]}' to see why"
