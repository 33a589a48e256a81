"""Build the gpio-vm from Debian's packages: a stock kernel, gpio-sim, a busybox initramfs.

Everything lands in build/gpio-vm/<abi>/ (ignored by git); nothing is fetched but Debian
packages, through apt. Once built, `ready` in that folder says so and later calls return
at once without asking apt anything.

  linux-image-<abi>          apt-get download, unpacked: vmlinuz and the few modules we load
                             (9p and overlay for the host's /, can_raw and vcan for CAN)
  linux-headers-<abi>        installed: the kbuild tree the two modules are built against
  linux-source-X.Y=<ver>     installed: irq_sim.c, gpio-sim.c, gpiolib.h come from its tarball
  busybox-static             installed: /bin/busybox is the initramfs's whole userland
  qemu-system-x86            installed: runs it (tools/gpio_vm/run.py); with gcc and make,
                             through tools/system-deps.d/gpio.txt
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.table import ROOT

HERE = Path(__file__).resolve().parent
CACHE = ROOT / "build" / "gpio-vm"
CURRENT = CACHE / "current"  # a text file: the name of the ready build folder
# The modules the guest loads (with what they depend on), besides our two: CAN sockets
# (can_raw) and a virtual CAN bus (vcan) for step 05's --can come with the stock kernel;
# unix_diag lets `strace -yy` name AF_UNIX sockets by path (make strace-N in the guest).
WANTED = ("configfs", "virtio_pci", "9pnet_virtio", "9p", "overlay", "can_raw", "vcan", "unix_diag")
OURS = ("irq_sim", "gpio-sim")


class VmError(Exception):
    """Why the VM cannot be built or run here, in one line."""


@dataclass(frozen=True)
class Kernel:
    abi: str  # 6.1.0-56-amd64
    version: str  # 6.1.192-2: the Debian version of the image, headers and source

    @property
    def series(self) -> str:  # 6.1
        return ".".join(self.abi.split(".")[:2])

    @property
    def packages(self) -> dict[str, str]:
        """Installed package name -> the version we need (or "" for any)."""
        return {
            f"linux-headers-{self.abi}": self.version,
            f"linux-source-{self.series}": self.version,
            "busybox-static": "",  # not in system-deps.d: /bin/busybox may be the dynamic one
        }


def run(argv: list[str | os.PathLike[str]], what: str, **kwargs: Any) -> str:
    """Run a command; its failure becomes a VmError naming what we were doing."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    except FileNotFoundError:
        raise VmError(f"{what}: {os.fspath(argv[0])} not found") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise VmError(f"{what} failed: {' / '.join(detail)}")
    return done.stdout


def recipe() -> str:
    """A digest of what a build is made by: a changed init.sh means building again."""
    digest = hashlib.sha256()
    for name in ("build.py", "init.sh", "Kbuild"):
        digest.update((HERE / name).read_bytes())
    return digest.hexdigest()[:16]


def ready_folder() -> Path | None:
    """The finished build, if there is one and it is made by this recipe."""
    try:
        folder = CACHE / CURRENT.read_text().strip()
        made_by = (folder / "ready").read_text().split()[-1]
    except (OSError, IndexError):
        return None
    return folder if made_by == recipe() else None


def is_root() -> bool:
    return os.geteuid() == 0


def check_platform() -> None:
    if os.uname().machine != "x86_64":
        raise VmError(f"the gpio-vm is an x86_64 VM; this machine is {os.uname().machine}")
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        raise VmError(
            "not a Debian/Ubuntu machine (no apt-get): "
            "the gpio-vm is built from Debian's kernel packages"
        )


def installed_version(package: str) -> str | None:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status} ${Version}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    words = done.stdout.split()
    return words[-1] if done.returncode == 0 and "installed" in words[:3] else None


def resolve_kernel() -> Kernel:
    """Which linux-image-amd64 apt would install now, with its ABI and version."""
    for attempt in range(2):
        out = subprocess.run(
            ["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True
        ).stdout
        match = re.search(r"Depends: linux-image-(\d+\.\d+\.\d+-\d+-amd64)\b", out)
        if match:
            break
        if attempt == 0 and is_root():
            run(["apt-get", "update", "-qq"], "apt-get update")
    else:
        raise VmError("apt knows no linux-image-amd64 (not Debian? as root, apt-get update)")
    abi = match.group(1)
    policy = run(["apt-cache", "policy", f"linux-image-{abi}"], "apt-cache policy")
    candidate = re.search(r"Candidate: (\S+)", policy)
    if not candidate or candidate.group(1) == "(none)":
        raise VmError(f"no installable linux-image-{abi}")
    return Kernel(abi, candidate.group(1))


def install_packages(kernel: Kernel) -> None:
    missing = [
        f"{name}={version}" if version else name
        for name, version in kernel.packages.items()
        if installed_version(name) is None or (version and installed_version(name) != version)
    ]
    if not missing:
        return
    if not is_root():
        raise VmError(f"needs root to apt-get install {' '.join(missing)}: run `sudo make gpio-vm`")
    print(f"gpio-vm: apt-get install {' '.join(missing)}", flush=True)
    run(["apt-get", "update", "-qq"], "apt-get update")
    run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        "apt-get install",
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def module_depends(ko: Path) -> list[str]:
    """The `depends=` field of a module's .modinfo section."""
    match = re.search(rb"\0depends=([^\0]*)\0", b"\0" + ko.read_bytes())
    return [name for name in (match.group(1).decode().split(",") if match else []) if name]


def load_order(wanted: tuple[str, ...], found: dict[str, Path]) -> list[str]:
    """The modules to insmod, each after the ones it depends on."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        if name not in found:
            raise VmError(f"kernel module {name} is not in the linux-image package")
        for dep in module_depends(found[name]):
            visit(dep.replace("-", "_"))
        order.append(name)

    for name in wanted:
        visit(name)
    return order


def unpack_image(kernel: Kernel, folder: Path) -> list[str]:
    """vmlinuz and the modules we load, from linux-image-<abi>; returns their load order."""
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        extra = ["-o", "APT::Sandbox::User=root"] if is_root() else []
        run(
            ["apt-get", "download", *extra, f"linux-image-{kernel.abi}={kernel.version}"],
            f"apt-get download linux-image-{kernel.abi}",
            cwd=tmp,
        )
        (deb,) = Path(tmp).glob("*.deb")
        unpacked = Path(tmp) / "root"
        unpacked.mkdir()
        members = ["./boot/vmlinuz-*"] + [
            f"./lib/modules/*/kernel/{sub}/*"
            for sub in ("fs", "net/9p", "net/unix", "drivers/virtio", "net/can", "drivers/net/can")
        ]
        tarball = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
        run(
            ["tar", "-x", "-C", unpacked, "--wildcards", *members],
            "unpacking",
            stdin=tarball.stdout,
        )
        if tarball.wait() != 0:
            raise VmError(f"dpkg-deb could not read {deb.name}")
        shutil.copy(unpacked / "boot" / f"vmlinuz-{kernel.abi}", folder / "vmlinuz")
        found = {
            ko.stem.replace("-", "_"): ko for ko in unpacked.glob("lib/modules/*/kernel/**/*.ko")
        }
        order = load_order(WANTED, found)
        (folder / "modules").mkdir(exist_ok=True)
        for name in order:
            shutil.copy(found[name], folder / "modules" / f"{name}.ko")
    return order


def patch_irq_sim(source: str) -> str:
    """irq_sim.c as a module: 6.1 does not export irq_to_desc(), and a module needs a licence."""
    old = "handle_simple_irq(irq_to_desc(irqnum));"
    if old in source:
        source = source.replace(old, "generic_handle_irq(irqnum);")
    elif "irq_to_desc(" in source:
        raise VmError(
            "irq_sim.c calls irq_to_desc() in a way this script does not know how to patch"
        )
    if "MODULE_LICENSE" not in source:
        source = "#include <linux/module.h>\n" + source + '\nMODULE_LICENSE("GPL");\n'
    return source


def build_modules(kernel: Kernel, folder: Path) -> None:
    """irq_sim.ko and gpio-sim.ko, built out of tree against linux-headers-<abi>."""
    tarball = Path(f"/usr/src/linux-source-{kernel.series}.tar.xz")
    top = f"linux-source-{kernel.series}"
    files = {
        "irq_sim.c": "kernel/irq/irq_sim.c",
        "gpio-sim.c": "drivers/gpio/gpio-sim.c",
        "gpiolib.h": "drivers/gpio/gpiolib.h",
    }
    src = folder / "src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir()
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        members = [f"{top}/{path}" for path in files.values()]
        run(["tar", "-xJf", tarball, "-C", tmp, *members], f"unpacking {tarball}")
        for name, path in files.items():
            shutil.copy(Path(tmp) / top / path, src / name)
    irq_sim = src / "irq_sim.c"
    irq_sim.write_text(patch_irq_sim(irq_sim.read_text()))
    shutil.copy(HERE / "Kbuild", src / "Kbuild")
    headers = f"/usr/src/linux-headers-{kernel.abi}"
    run(["make", "-s", "-C", headers, f"M={src}", "modules"], "building gpio-sim")
    for name in OURS:
        shutil.copy(src / f"{name}.ko", folder / "modules" / f"{name}.ko")


def cpio_entry(name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> bytes:
    """One member of a newc cpio archive (the initramfs format), owned by root."""
    path = name.encode() + b"\0"
    fields = [0, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(path), 0]
    header = b"070701" + b"".join(b"%08X" % field for field in fields)

    def pad(blob: bytes) -> bytes:
        return blob + b"\0" * (-len(blob) % 4)

    return pad(header + path) + pad(data)


def is_static(binary: Path) -> bool:
    """An ELF file without a program interpreter (PT_INTERP) needs no shared libraries."""
    data = binary.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    phoff = int.from_bytes(data[32:40], "little")
    size, count = int.from_bytes(data[54:56], "little"), int.from_bytes(data[56:58], "little")
    kinds = [
        int.from_bytes(data[phoff + i * size : phoff + i * size + 4], "little")
        for i in range(count)
    ]
    return 3 not in kinds  # PT_INTERP


def build_initramfs(folder: Path, order: list[str]) -> None:
    busybox = Path("/bin/busybox")
    if not is_static(busybox):
        raise VmError("/bin/busybox is not statically linked: apt-get install busybox-static")
    archive = io.BytesIO()
    for directory in ("bin", "dev", "proc", "sys", "host", "scratch", "modules"):
        archive.write(cpio_entry(directory, stat.S_IFDIR | 0o755))
    archive.write(cpio_entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)))
    archive.write(cpio_entry("init", stat.S_IFREG | 0o755, (HERE / "init.sh").read_bytes()))
    archive.write(cpio_entry("bin/busybox", stat.S_IFREG | 0o755, busybox.read_bytes()))
    for name in order:
        ko = (folder / "modules" / f"{name}.ko").read_bytes()
        archive.write(cpio_entry(f"modules/{name}.ko", stat.S_IFREG | 0o644, ko))
    listing = "".join(f"{name}.ko\n" for name in order).encode()
    archive.write(cpio_entry("modules/order", stat.S_IFREG | 0o644, listing))
    archive.write(cpio_entry("TRAILER!!!", 0))
    (folder / "initramfs.gz").write_bytes(gzip.compress(archive.getvalue(), mtime=0))


def build() -> Path:
    """The ready build folder, building it first if needed."""
    if folder := ready_folder():
        return folder
    check_platform()
    CACHE.mkdir(parents=True, exist_ok=True)
    tools = subprocess.run(
        ["sh", str(ROOT / "tools" / "system-deps.sh"), "gpio-vm"], capture_output=True, text=True
    )
    if tools.returncode != 0:  # qemu, gcc, make (tools/system-deps.d/gpio.txt)
        raise VmError(" ".join(tools.stderr.split()))
    kernel = resolve_kernel()
    install_packages(kernel)
    folder = CACHE / kernel.abi
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    print(f"gpio-vm: building in {folder.relative_to(ROOT)} (kernel {kernel.abi})", flush=True)
    order = unpack_image(kernel, folder)
    build_modules(kernel, folder)
    build_initramfs(folder, [*order, *OURS])
    shutil.rmtree(folder / "src")
    (folder / "ready").write_text(f"{kernel.abi} {kernel.version} {recipe()}\n")
    CURRENT.write_text(f"{kernel.abi}\n")
    return folder
