#!/bin/sh
# Records udisksd's GetManagedObjects in three states into $BOOTKEY_OUT (the unit tests' dumps in
# test/unit/data/udisks come from this). Runs inside UML with two scsi_debug keys (sda, sdb) and a ubd disk.
set -eu
modprobe loop
out=${BOOTKEY_OUT:?}
B=org.freedesktop.UDisks2
dump() { busctl --system --json=short call $B /org/freedesktop/UDisks2 org.freedesktop.DBus.ObjectManager GetManagedObjects >"$out/$1"; }
dump two-keys-and-ubd.json
busctl --system call $B /org/freedesktop/UDisks2/block_devices/sda $B.Block Format 'sa{sv}' dos 0 >/dev/null
busctl --system call $B /org/freedesktop/UDisks2/block_devices/sda $B.PartitionTable CreatePartitionAndFormat \
  'ttssa{sv}sa{sv}' 1048576 0 0x0c '' 0 vfat 1 label s BOOTKEY >/dev/null
udisksctl mount -b /dev/sda1 >/dev/null
udevadm settle
dump key-partitioned-mounted.json
img=/tmp/bootkey-loop.img
truncate -s 32M "$img"
printf 'label: gpt\n,16M,U\n,+,L\n' | sfdisk -q "$img"
udisksctl loop-setup -r -f "$img" >/dev/null
udevadm settle
sleep 1
dump loop-attached.json
