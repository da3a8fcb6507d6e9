#!/usr/bin/env bash
# Install the Debian packages the e2e harnesses need, only when missing.
# Idempotent: a second run does nothing (no apt-get update either).
#
#   sudo test/e2e/lib/install-deps.sh          # the default set
#   sudo test/e2e/lib/install-deps.sh pkg...   # extra packages too
#
# Installing "tgt" would normally start the system tgt service listening on
# 0.0.0.0:3260. We block service starts during the install (policy-rc.d),
# since the harnesses run their own tgtd on loopback only.
set -euo pipefail

PKGS=(libiscsi-bin qemu-utils qemu-block-extra tgt iproute2 procps "$@")

missing=()
for p in "${PKGS[@]}"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
        missing+=("$p")
    fi
done

if (( ${#missing[@]} == 0 )); then
    echo "install-deps: all present (${PKGS[*]})"
    exit 0
fi

SUDO=()
if (( EUID != 0 )); then
    command -v sudo >/dev/null || { echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; }
    SUDO=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
policy=/usr/sbin/policy-rc.d
made_policy=0
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    made_policy=1
fi
cleanup() { if (( made_policy )); then "${SUDO[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
