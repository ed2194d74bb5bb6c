"""The visitor's device class (mobile, tablet or desktop) from the User-Agent Client Hint or User-Agent.

Why not a UA-parsing library: ua-parser (the maintained one) names the browser, OS and device model but has
no device *class*; user-agents, which adds one on top of it, has not been released since 2020; Matomo's
device-detector is thousands of regular expressions for the same three answers. Ad targeting needs only the
class, and the signals for it are few and documented by the browser makers:

* `Sec-CH-UA-Mobile: ?1` / `?0` (Chromium browsers send it on every request) is the browser's own answer to
  "is this a phone?", so it wins. `?0` still leaves tablet or desktop: Chrome on an Android tablet sends `?0`
  with an Android User-Agent.
* iPads say `iPad` (iPadOS 13+ Safari asks for desktop pages with a Mac User-Agent and no Client Hint: it
  is indistinguishable from a Mac on the server, so it is desktop here, as it is to every server).
* Android phones put `Mobile` in the User-Agent and Android tablets leave it out (Google's guidance to
  Android browser makers); Firefox on tablets says `Tablet`; Kindles say `Kindle` or run Silk on Android.
* Everything else with `Mobi` in it is a phone (MDN's recommendation), as are the few old phone platforms
  that never said so (Opera Mini, BlackBerry, Windows Phone, J2ME).
* TVs and consoles, desktops, an empty or missing User-Agent: desktop.

Crawlers are classified by their User-Agent like browsers: Googlebot Smartphone presents an Android phone
and gets the mobile page, Googlebot Desktop gets the desktop page, so search engines see what the visitors
they stand for see.
"""

from __future__ import annotations

import functools
import re
from typing import Literal

Device = Literal["mobile", "tablet", "desktop"]

_TV = re.compile(r"SMART-?TV|SmartTV|GoogleTV|Android TV|BRAVIA|CrKey|\bAFT[A-Z]+\b|Web0S|\bTV\b")
_TABLET = re.compile(r"iPad|\bTablet\b(?! PC)|PlayBook|Kindle|\bSilk/(?!.*Mobile)")
_PHONE = re.compile(r"Mobi|iPhone|iPod|Opera Mini|BlackBerry|\bBB10\b|Windows Phone|IEMobile|J2ME|MIDP|KAIOS")


@functools.lru_cache(maxsize=4096)
def classify_user_agent(user_agent: str) -> Device:
    """The device class a User-Agent string stands for (cached: sites see the same few thousand strings)."""
    if not user_agent:
        return "desktop"
    if _TV.search(user_agent):
        return "desktop"
    if _TABLET.search(user_agent):
        return "tablet"
    if "Android" in user_agent:
        return "mobile" if "Mobile" in user_agent else "tablet"
    if _PHONE.search(user_agent):
        return "mobile"
    return "desktop"


def client_hint_mobile(value: str | None) -> bool | None:
    """`Sec-CH-UA-Mobile` as a structured-header boolean: True for ?1, False for ?0, None when absent/odd."""
    if value is None:
        return None
    token = value.strip()
    if token == "?1":
        return True
    if token == "?0":
        return False
    return None


def device_class(user_agent: str | None, ch_mobile: str | None = None) -> Device:
    """mobile, tablet or desktop: the Client Hint when the browser sent it, else the User-Agent."""
    from_ua = classify_user_agent(user_agent or "")
    hint = client_hint_mobile(ch_mobile)
    if hint is True:
        return "mobile"
    if hint is False:
        return "tablet" if from_ua == "tablet" else "desktop"
    return from_ua
