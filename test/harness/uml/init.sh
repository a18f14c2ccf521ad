#!/bin/bash
# PID 1 inside User-Mode Linux (index.ts boots it with the host's root filesystem read-only as its root).
# It makes the writable places udev, D-Bus and udisks need, mounts the run's control folder, the project and
# the out folder from the host read-write at their host paths, attaches the keys, starts dbus-daemon,
# systemd-udevd and udisksd, runs the command and powers off. The kernel command line gives only
# BOOTKEY_UML_CTL (the control folder's host path); everything else is in files there, written by index.ts:
#   settings  name=value lines: project, out, keys, key_mb, udisks
#   argv      the command, NUL-separated;  env  NAME=value entries, NUL-separated
# It leaves there: stdout, stderr, status (the command's exit code) or setup-error.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ctl=${BOOTKEY_UML_CTL:-}
unset BOOTKEY_UML_CTL

log() { echo "bootkey-uml: $* (uptime $(cut -d" " -f1 /proc/uptime) s)"; }

power_off() {
  sync
  poweroff -f >/dev/null 2>&1
  echo o >/proc/sysrq-trigger
  while :; do sleep 60; done # PID 1 must never exit: that is a kernel panic
}

fail() {
  log "setup failed: $*"
  [ -n "$ctl" ] && mountpoint -q "$ctl" && echo "$*" >"$ctl/setup-error"
  power_off
}

# Mounts a host folder read-write at the same path inside. Mount points under our tmpfs mounts do not exist yet.
mount_host() {
  [ -d "$1" ] || mkdir -p "$1" || fail "cannot create mount point $1"
  mount -t hostfs -o "$1" none "$1" || fail "cannot mount host folder $1"
}

mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev || fail "mount /dev"
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts || fail "mount /dev/pts"
mount -t tmpfs tmpfs /dev/shm || fail "mount /dev/shm"
# /run: udev's database, D-Bus's socket, udisks' state; /media: udisks' mount points; /root: HOME.
for dir in /tmp /run /media /root; do
  mount -t tmpfs -o mode=1777 tmpfs "$dir" || fail "mount tmpfs on $dir"
done
chmod 0755 /run /media /root
# /var/lib (udisks2's and dbus's state) stays readable as on the host, with writes kept in memory.
mkdir -p /run/var-lib/upper /run/var-lib/work
modprobe overlay || fail "modprobe overlay"
mount -t overlay -o lowerdir=/var/lib,upperdir=/run/var-lib/upper,workdir=/run/var-lib/work overlay /var/lib \
  || fail "mount overlay on /var/lib"

[ -n "$ctl" ] || fail "no BOOTKEY_UML_CTL on the kernel command line"
mount_host "$ctl"

project='' out='' keys=0 key_mb=0 udisks=1
while IFS='=' read -r name value; do
  case $name in
    project) project=$value ;;
    out) out=$value ;;
    keys) keys=$value ;;
    key_mb) key_mb=$value ;;
    udisks) udisks=$value ;;
  esac
done <"$ctl/settings"
mount_host "$project"
mount_host "$out"
log "mounts ready"

# Waits up to $1 tenths of a second for a command to succeed. It idles with bash's own read -t: every process
# start is expensive in UML, and this loop must not slow down what it waits for.
mkfifo /run/bootkey-idle && exec {idle}<>/run/bootkey-idle || fail "mkfifo"
wait_for() {
  local tries=$1
  shift
  until "$@"; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || return 1
    read -r -t 0.1 -u "$idle"
  done
  return 0 # not the status of the last read, which timed out
}

if [ "$udisks" = 1 ]; then
  mkdir -p /run/dbus
  dbus-daemon --system --fork || fail "dbus-daemon"
  /lib/systemd/systemd-udevd --daemon || fail "systemd-udevd"
  udevadm control --ping || fail "systemd-udevd does not answer"
  # udisksd follows devices as udev announces them, so it can start while the keys are still being made.
  /usr/libexec/udisks2/udisksd --no-debug >/run/udisksd.log 2>&1 &
fi

# Each key is its own scsi_debug host with its own store, so each is a separate removable drive.
if [ "$keys" -gt 0 ]; then
  modprobe scsi_debug removable=1 per_host_store=1 "dev_size_mb=$key_mb" "add_host=$keys" || fail "modprobe scsi_debug"
  modprobe sd_mod || fail "modprobe sd_mod"
fi
shopt -s nullglob
keys_present() {
  local disks=(/sys/block/sd*)
  [ "${#disks[@]}" -ge "$keys" ]
}
wait_for 300 keys_present || fail "not all $keys keys appeared: $(echo /sys/block/sd*)"

if [ "$udisks" = 1 ]; then
  # The keys' events reached udevd live; the ubd disks were there before it started, so replay theirs.
  disks=(/sys/block/ubd*)
  [ "${#disks[@]}" -eq 0 ] || udevadm trigger --action=add --sysname-match='ubd*' || fail "udevadm trigger"
  udevadm settle --timeout=30 || fail "udevadm settle"
  log "udev ready"
  udisks_lists_all() {
    local status dev
    status=$(udisksctl status 2>/dev/null) || return 1
    for dev in /sys/block/sd* /sys/block/ubd*; do
      grep -qw "${dev##*/}" <<<"$status" || return 1
    done
  }
  gdbus wait --system --timeout 30 org.freedesktop.UDisks2 || fail "udisksd did not start: $(cat /run/udisksd.log)"
  wait_for 300 udisks_lists_all || fail "udisks did not list every drive: $(cat /run/udisksd.log)"
  log "udisks ready"
else
  log "devices ready"
fi

declare -a argv=()
mapfile -d '' -t argv <"$ctl/argv"
[ "${#argv[@]}" -gt 0 ] || fail "empty command"
export HOME=/root BOOTKEY_OUT="$out" PATH="$project/node_modules/.bin:$PATH"
while IFS= read -r -d '' entry; do
  export "$entry"
done <"$ctl/env"

cd "$project" || fail "cd $project"
"${argv[@]}" >"$ctl/stdout" 2>"$ctl/stderr" </dev/null
echo $? >"$ctl/status"
log "command exited"
power_off
