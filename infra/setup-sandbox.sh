#!/usr/bin/env bash
# Installs the Debian packages the embedded sandbox needs. Idempotent: installs
# only what is missing, so it is cheap to run before every start.
set -euo pipefail
# Extra packages may be named as arguments (npm run bench adds Jupyter Server, its baseline;
# npm test adds Chromium, in which the MCP Apps view is tested).
# The data stack follows what E2B's code-interpreter image ships, where Debian packages it
# (parquet's pyarrow is not packaged in Debian 12: see the README).
PACKAGES=(python3-ipykernel python3-numpy python3-pandas python3-matplotlib
  python3-scipy python3-sklearn python3-seaborn python3-statsmodels python3-plotly
  python3-openpyxl python3-xlrd python3-sympy python3-networkx python3-tabulate
  python3-lxml python3-bs4 python3-pil
  bubblewrap socat procps python3-seccomp
  slirp4netns
  r-cran-irkernel
  "$@")
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "The sandbox needs these Debian packages: ${missing[*]}" >&2
  echo "Run as root:  sudo bash infra/setup-sandbox.sh" >&2
  exit 1
fi
echo "Installing ${missing[*]} ..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
