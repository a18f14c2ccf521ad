#!/usr/bin/env bash
# Installs the Debian packages the test tiers need (test/harness/tier.ts names them) and makes UML's kernel
# modules loadable. Run as root: `npm run setup:test-host`.
set -euo pipefail
packages=(
  user-mode-linux kmod dbus udev udisks2 dmsetup kpartx policykit-1 libglib2.0-bin gcc libc6-dev
  qemu-system-x86 ovmf grub-common grub2-common grub-pc-bin grub-efi-amd64-bin
  xorriso genisoimage mtools dosfstools exfatprogs exfat-fuse fdisk util-linux udftools squashfs-tools xz-utils zstd e2fsprogs 7zip cryptsetup-bin
  chromium
  cpio # dracut (tier dracut) builds an initramfs with it
)
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# UML's modprobe looks in /lib/modules/<its version>; Debian ships them under /usr/lib/uml/modules.
for dir in /usr/lib/uml/modules/*/; do
  version=$(basename "$dir")
  mkdir -p /lib/modules
  [ -e "/lib/modules/$version" ] || ln -s "$dir" "/lib/modules/$version"
  depmod "$version"
done
echo "test host ready: ${#packages[@]} packages"
