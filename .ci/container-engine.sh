#!/usr/bin/env bash
# Start or stop the Docker daemon the container tests use. On this kind of machine it runs only as
#   dockerd --bridge=none --iptables=false --ip-masq=false
# (containers use --network host; the default bridge's private range must not carry traffic here).
# `start` installs docker.io and debootstrap from Debian when they are missing.
set -euo pipefail
STATE=${INFERBOARD_DOCKERD_STATE:-/tmp/inferboard-dockerd}
case "${1:-}" in
  start)
    if docker info >/dev/null 2>&1; then echo "docker daemon already answering"; exit 0; fi
    if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
    fi
    mkdir -p "$STATE"
    setsid nohup dockerd --bridge=none --iptables=false --ip-masq=false >"$STATE/dockerd.log" 2>&1 &
    echo $! >"$STATE/pid"
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && { echo "docker daemon started"; exit 0; }; sleep 1; done
    echo "dockerd did not start; log:" >&2; tail -20 "$STATE/dockerd.log" >&2; exit 1 ;;
  stop)
    if [ -f "$STATE/pid" ]; then kill "$(cat "$STATE/pid")" 2>/dev/null || true; rm -f "$STATE/pid"; fi ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
