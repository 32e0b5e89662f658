#!/usr/bin/env bash
# Installs the Debian 12 packages Parley needs to build, run and test. Idempotent and quick
# when everything is already there; uses sudo when not root.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache mold
  libboost1.81-dev libboost-json1.81-dev
  libssl-dev libsqlite3-dev libsodium-dev libspdlog-dev prometheus-cpp-dev libexpected-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  curl chromium
  postgresql-15 libpq-dev  # the server carries contrib (pg_trgm) on Debian 12
  redis-server libhiredis-dev nginx
  libcurl4-openssl-dev  # S3 blob store; the outbound client (previews, webhooks, push)
  libvips-dev    # images: size, metadata stripping, thumbnails (adapters/vips)
  libmagic-dev   # file types detected from the bytes (modules/files)
  libminizip-dev # ZIP archives of data exports (modules/governance)
  clamav-daemon  # malware scanning: tests run their own clamd (scripts/clamd.sh)
  tzdata         # /usr/share/zoneinfo: the time zones a profile may name
  prometheus     # promtool checks the alerting rules; tests run their own (scripts/prometheus.sh)
  rabbitmq-server librabbitmq-dev  # the notification job queue in clusters (--amqp)
  python3-aiosmtpd  # tests capture mail with a real SMTP server on loopback
  coturn janus janus-tools ffmpeg  # calls: TURN, the SFU, janus-pp-rec and ffmpeg for recordings
  apertium apertium-en-es apertium-en-ca apertium-fr-es apertium-es-pt  # translation (AI)
  libcld2-dev    # language identification (AI)
  pocketsphinx pocketsphinx-en-us libpocketsphinx-dev libsphinxbase-dev espeak-ng  # speech to text
)
# The web app needs node and npm (Debian's, unless a newer node with its own npm is already
# there: Debian's npm package conflicts with those); Chromium runs its end-to-end tests. The S3
# tests' s3rver (scripts/s3.sh) runs on the same node.
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)
# `make fuzz` also needs clang and its libFuzzer/sanitizer runtimes.
[ "${1:-}" = "--fuzz" ] && PACKAGES+=(clang-14 libclang-rt-14-dev)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

# Tests run their own throw-away redis-server, nginx, clamd and Prometheus (scripts/redis.sh,
# scripts/nginx.sh, scripts/clamd.sh, scripts/prometheus.sh) on loopback or a private socket;
# Debian starts system-wide ones on install (nginx on port 80, Prometheus on 9090;
# clamav-freshclam, pulled in by clamav-daemon, downloads virus definitions).
# Stop and disable those when this script just installed them; a machine that already ran them
# keeps them.
services=()
for p in redis-server nginx prometheus rabbitmq-server coturn janus; do
  [[ " ${missing[*]} " == *" $p "* ]] && services+=("$p")
done
[[ " ${missing[*]} " == *" clamav-daemon "* ]] && services+=(clamav-daemon clamav-freshclam)
for svc in "${services[@]}"; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled "$svc" >/dev/null 2>&1; then
    echo "install-deps: disabling the system $svc service (tests start their own)"
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
  fi
done
