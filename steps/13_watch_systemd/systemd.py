"""systemd on the bus: org.freedesktop.systemd1, and the unit the client watches.

systemd is a D-Bus service like ours. Every unit is an object of it:

    busctl tree org.freedesktop.systemd1
    unit=/org/freedesktop/systemd1/unit/incoming_2eservice
    busctl introspect org.freedesktop.systemd1 $unit

    Manager.LoadUnit(s name) -> o  the unit's object (loaded from its file if need be)
    Manager.Subscribe()            "send me the units' signals" (older systemd needs it)
    Unit    ActiveState, SubState  active (running), activating (auto-restart), failed
    Service StatusText             the service's own STATUS= line (step 12)
            NRestarts              how often Restart= restarted it (the watchdog, say)
    PropertiesChanged              when any of them changes: with the new values

Only the members the client reads are declared here: a proxy needs no more.
"""

from sdbus import DbusInterfaceCommonAsync, dbus_method_async, dbus_property_async

SYSTEMD = "org.freedesktop.systemd1"
MANAGER = "/org/freedesktop/systemd1"
UNIT = "incoming.service"


class Manager(
    DbusInterfaceCommonAsync, interface_name="org.freedesktop.systemd1.Manager"
):
    @dbus_method_async(input_signature="s", result_signature="o")
    async def load_unit(self, name: str) -> str:
        raise NotImplementedError  # systemd's side: we only call it

    @dbus_method_async()
    async def subscribe(self) -> None:
        raise NotImplementedError


class Unit(DbusInterfaceCommonAsync, interface_name="org.freedesktop.systemd1.Unit"):
    @dbus_property_async("s")
    def load_state(self) -> str:
        raise NotImplementedError

    @dbus_property_async("s")
    def active_state(self) -> str:
        raise NotImplementedError

    @dbus_property_async("s")
    def sub_state(self) -> str:
        raise NotImplementedError


class Service(
    DbusInterfaceCommonAsync, interface_name="org.freedesktop.systemd1.Service"
):
    @dbus_property_async("s")
    def status_text(self) -> str:
        raise NotImplementedError

    @dbus_property_async("u", property_name="NRestarts")
    def n_restarts(self) -> int:
        raise NotImplementedError


class ServiceUnit(Unit, Service):
    """A service's object: both a Unit and a Service."""


async def state_of(unit):
    """ActiveState, SubState, StatusText and NRestarts, read now."""
    return {
        "active": await unit.active_state,
        "sub": await unit.sub_state,
        "status": await unit.status_text,
        "restarts": await unit.n_restarts,
    }


SHOWN = {
    "ActiveState": "active",
    "SubState": "sub",
    "StatusText": "status",
    "NRestarts": "restarts",
}


def changes_in(changed):
    """PropertiesChanged's new values ({name: (signature, value)}) of the four."""
    return {SHOWN[name]: value for name, (_, value) in changed.items() if name in SHOWN}
