"""Phone connector: CTI webhook events (newCall / answer / hangup) and a FRITZ!Box's call
monitor (``fritzbox``) -> call entries and live ``call.*`` events. The HTTP route lives in
``chronik/api/cti.py``, the wiring in ``chronik/glue/phone.py``."""

from .calls import CallState, Rendered
from .events import HANGUP_CAUSES, CallDirection, CtiEvent, CtiEventType, parse_event
from .fritzbox import FritzboxCallMonitor, FritzboxConfig, FritzboxError
from .service import RAW_CHANNEL, CallResult, CtiService, plain_match

__all__ = [
    "HANGUP_CAUSES",
    "RAW_CHANNEL",
    "CallDirection",
    "CallResult",
    "CallState",
    "CtiEvent",
    "CtiEventType",
    "CtiService",
    "FritzboxCallMonitor",
    "FritzboxConfig",
    "FritzboxError",
    "Rendered",
    "parse_event",
    "plain_match",
]
