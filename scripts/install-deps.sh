#!/usr/bin/env bash
# Installs the Debian 12 packages qemu-lite builds and tests with.
# Idempotent: asks apt only for what is missing, and says nothing when all is present.
set -euo pipefail

packages=(
  meson ninja-build g++ pkg-config
  libglib2.0-dev libaio-dev libcmocka-dev liburing-dev zlib1g-dev libzstd-dev libjson-glib-dev
  libboost-context-dev
  qemu-utils nbdkit libnbd-bin fio
  libunicorn-dev nasm syslinux syslinux-common mtools dosfstools
  grub-pc-bin extlinux e2fsprogs fdisk  # tests/boot/mkbootdisk.sh: GRUB 2 / EXTLINUX disks
  qemu-system-x86  # the reference for machine behaviour and boot timings
  clang clang-format libfuzzer-14-dev libclang-rt-14-dev
  python3-clang-14 # scripts/coroutine-check.py: the coroutine_fn checker (libclang)
  valgrind strace
  libgnutls28-dev  # NBD TLS (tls-creds-x509/psk objects)
  gnutls-bin       # certtool and psktool: iotests make TLS certificates at test time
  time             # /usr/bin/time: CPU time of each convert run in bench/run-img.sh
  librbd-dev librados-dev             # block/rbd/: the rbd driver
  ceph-mon ceph-osd ceph-common uuid-runtime  # tests/rbd/: the throwaway test cluster
  qemu-block-extra                    # QEMU's own rbd driver: rbd interop tests and bench
  libssh-dev openssh-server openssh-client  # block/ssh/ and tests/ssh/ (sshd; qemu-block-extra: QEMU's ssh driver)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
