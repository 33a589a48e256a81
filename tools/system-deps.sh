#!/bin/sh
# Checks the system tools a group of targets needs; installs the missing ones
# with apt when run as root on Debian/Ubuntu, else prints the command to run.
#   tools/system-deps.sh core [vm] [slides] [sniff] [bench]
# Each line below: group, the command to look for, the Debian package, the Fedora package.
set -eu
table='
core dbus-daemon dbus-daemon dbus-daemon
core busctl systemd systemd
core strace strace strace
core tmux tmux tmux
core gdbus libglib2.0-bin glib2
'
missing_deb= ; missing_rpm=
for group in "$@"; do
  while read -r g cmd deb rpm; do
    [ "$g" = "$group" ] || continue
    command -v "$cmd" >/dev/null 2>&1 || [ -e "$cmd" ] || {
      missing_deb="$missing_deb $deb"; missing_rpm="$missing_rpm $rpm"; }
  done <<EOT
$table
$(cat "$(dirname "$0")"/system-deps.d/*.txt 2>/dev/null || true)
EOT
done
[ -z "$missing_deb" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  # One line says what is installed; apt's own output (and debconf's) goes to a log.
  build="$(cd "$(dirname "$0")/.." && pwd)/build"
  mkdir -p "$build"
  log="$build/system-deps.log"
  echo "system-deps: installing$missing_deb (apt's output: $log)" >&2
  apt="apt-get -q -o DPkg::Lock::Timeout=600"  # another install running: wait for it
  if { $apt update && DEBIAN_FRONTEND=noninteractive $apt install -y $missing_deb; } \
    >>"$log" 2>&1 </dev/null; then
    exit 0
  fi
  echo "system-deps: apt-get could not install$missing_deb: $(tail -n 1 "$log") (all of it: $log)" >&2
  exit 1
fi
echo "missing system tools; install them with one of:" >&2
echo "  sudo apt install$missing_deb" >&2
echo "  sudo dnf install$missing_rpm" >&2
exit 1
