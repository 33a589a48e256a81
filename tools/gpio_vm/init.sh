#!/bin/busybox sh
# /init of the gpio-vm initramfs (tools/gpio_vm/build.py packs it with a static busybox).
# Loads the modules, mounts the host's / read-only over 9p, and runs the host's script
# $gpio_vm_script (from the kernel command line) chrooted into it, with this kernel's
# /proc, /sys, /dev, configfs on top, and a writable /tmp: the host's /tmp read-only
# (a checkout may live there) with a tmpfs over it (overlayfs) for what the guest writes. qemu exits 0 whatever happens
# in here, so the script's exit status is printed for the host to read back.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for module in $(cat /modules/order); do
  insmod "/modules/$module" || echo "gpio-vm: insmod $module failed"
done
mount -t configfs configfs /sys/kernel/config

status=125
if mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose host /host; then
  mount -t proc proc /host/proc
  mount -t sysfs sysfs /host/sys
  mount -t configfs configfs /host/sys/kernel/config
  mount -t devtmpfs devtmpfs /host/dev
  mount -t tmpfs tmpfs /scratch
  mkdir /scratch/upper /scratch/work
  mount -t overlay overlay -o lowerdir=/host/tmp,upperdir=/scratch/upper,workdir=/scratch/work /host/tmp ||
    mount -t tmpfs tmpfs /host/tmp
  mount -t tmpfs tmpfs /host/run
  if [ -n "$gpio_vm_script" ]; then
    chroot /host /bin/sh "$gpio_vm_script"
    status=$?
  else
    echo "gpio-vm: no gpio_vm_script= on the kernel command line"
  fi
else
  echo "gpio-vm: could not mount the host's / (9p share 'host')"
fi
echo "gpio-vm: exit status $status"
sync
poweroff -f
