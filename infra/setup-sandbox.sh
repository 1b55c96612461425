#!/usr/bin/env bash
# Installs the Debian packages the sandbox service needs. Idempotent: installs
# only what is missing, so it is cheap to run before every start.
set -euo pipefail
# --check: say what is missing and the command that installs it, install nothing (exit 1 when
# something is missing). The installed package's bin checks this way before it starts its sandbox.
check_only=false
if [ "${1:-}" = "--check" ]; then
  check_only=true
  shift
fi
# Extra packages may be named as arguments (npm run bench adds Jupyter Server, its baseline;
# npm test adds Chromium, in which the MCP Apps view is tested).
# The data stack follows what E2B's code-interpreter image ships, where Debian packages it
# (parquet's pyarrow is not packaged in Debian 12: see the README).
PACKAGES=(python3-ipykernel python3-numpy python3-pandas python3-matplotlib
  python3-scipy python3-sklearn python3-seaborn python3-statsmodels python3-plotly
  python3-openpyxl python3-xlrd python3-sympy python3-networkx python3-tabulate
  python3-lxml python3-bs4 python3-pil
  python3-pip
  bubblewrap socat procps python3-seccomp
  slirp4netns
  r-cran-irkernel
  "$@")
# Where there is no dpkg there is nothing to check against: the sandbox says what fails when it fails.
if $check_only && ! command -v dpkg-query >/dev/null; then
  exit 0
fi
# One dpkg-query for all of them (it runs before every start): the names whose status is installed.
installed=" $( (dpkg-query -W -f='${Package}=${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null || true) | sed -n 's/=installed$//p' | tr '\n' ' ') "
missing=()
for p in "${PACKAGES[@]}"; do
  [[ "$installed" == *" $p "* ]] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if $check_only || [ "$(id -u)" -ne 0 ]; then
  self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
  echo "The sandbox needs these Debian packages: ${missing[*]}" >&2
  echo "Install them (Debian/Ubuntu) with:  sudo bash $(printf '%q' "$self")$(printf ' %q' "$@")" >&2
  exit 1
fi
echo "Installing ${missing[*]} ..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
