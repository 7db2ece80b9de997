#!/usr/bin/env bash
# Installs what building venuebox needs beyond Rust and a C compiler, on Debian/Ubuntu:
# cmake and nasm, with which turbojpeg-sys builds its bundled libjpeg-turbo 3 and its
# SIMD code (Debian 12 and Ubuntu 24.04 ship libjpeg-turbo 2.1, older than the
# TurboJPEG 3 API the turbojpeg crate calls, so the system library cannot be linked).
# Used by image-build/run.sh (the README's run command) and tests/run.sh.
# Installs only what is missing; as non-root it prints the command to run and fails.
set -euo pipefail

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v nasm >/dev/null 2>&1 || missing+=(nasm)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=sudo
  else
    echo "venuebox: building needs ${missing[*]}; install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=
fi
command -v apt-get >/dev/null 2>&1 || {
  echo "venuebox: building needs ${missing[*]} (no apt-get here: install them with your package manager)" >&2
  exit 1
}
echo "venuebox: installing ${missing[*]} (needed to build libjpeg-turbo)" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
