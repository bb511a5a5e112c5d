#!/usr/bin/env bash
# Install the Debian packages the tests use, when they are missing: PostgreSQL for the database
# tests, pcscd and the virtual reader driver for the card tests, swig and the PC/SC headers to
# build pyscard, Chromium for the web pages, redis-server for the shared rate limits, gpsd and
# gpsfake (gpsd-clients on Debian 12; gpsd-tools holds gpsmon and cgps) to replay GPS tracks,
# node to run the rider app's ticket code against the QR test vector.
set -euo pipefail

packages=(
  postgresql pcscd vsmartcard-vpcd swig libpcsclite-dev chromium redis-server
  gpsd gpsd-tools gpsd-clients nodejs
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "The tests need these Debian packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
