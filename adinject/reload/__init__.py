"""Live rules: a rules folder watched for changes, swapped in whole, that cannot take the site down.

`LiveRules` (live.py) keeps `current` a complete, valid rules object, reloading the folder (in a thread of
its own) when the watcher thread (watcher.py) says it may have changed. The kill switch (killswitch.py) turns
every unit off, read by the watcher on every look whatever a load is doing; while it is on, or before any
valid rules have loaded, `current` is an `Inactive` (inactive.py).
"""

from adinject.reload.inactive import Inactive
from adinject.reload.killswitch import OFF_ENV, OFF_FILE, env_off
from adinject.reload.live import LiveRules
from adinject.reload.watcher import RELOAD_ENV

__all__ = ["OFF_ENV", "OFF_FILE", "RELOAD_ENV", "Inactive", "LiveRules", "env_off"]
