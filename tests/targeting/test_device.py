"""Device classification: the Client Hint wins, then the User-Agent, against real browsers' strings."""

from __future__ import annotations

import pytest

from adinject.targeting.device import classify_user_agent, client_hint_mobile, device_class

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1"
)
IPADOS_DESKTOP_MODE = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15"
)
ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Mobile Safari/537.36"
)
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
GALAXY_TAB_SAMSUNG = (
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/24.0 Chrome/117.0.0.0 Safari/537.36"
)
FIREFOX_ANDROID_PHONE = "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0"
FIREFOX_ANDROID_TABLET = "Mozilla/5.0 (Android 14; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0"
KINDLE_FIRE = (
    "Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/124.2.1 "
    "like Chrome/124.0.6367.82 Safari/537.36"
)
KINDLE_DESKTOP_MODE = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Silk/124.2.1 like "
    "Chrome/124.0.6367.82 Safari/537.36"
)
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
IE_TOUCH_LAPTOP = (
    "Mozilla/5.0 (Windows NT 6.3; Win64; x64; Trident/7.0; Touch; Tablet PC 2.0; rv:11.0) like Gecko"
)
CHROMEBOOK = (
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36"
)
OPERA_MINI = "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25"
WINDOWS_PHONE = (
    "Mozilla/5.0 (compatible; MSIE 10.0; Windows Phone 8.0; Trident/6.0; IEMobile/10.0; ARM; Touch; "
    "NOKIA; Lumia 920)"
)
BLACKBERRY = "Mozilla/5.0 (BB10; Touch) AppleWebKit/537.10+ (KHTML, like Gecko) Version/10.0.9.2372 Mobile Safari/537.10+"
ANDROID_TV = (
    "Mozilla/5.0 (Linux; Android 9; BRAVIA 4K UR2 Build/PTT1.190515.001.S52) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
FIRE_TV = "Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7233; wv) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
TIZEN_TV = "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 76.0.3809.146/6.0 TV Safari/537.36"
GOOGLEBOT_SMARTPHONE = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.118 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)
GOOGLEBOT_DESKTOP = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BINGBOT_MOBILE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 7_0 like Mac OS X) AppleWebKit/537.51.1 (KHTML, like Gecko) "
    "Version/7.0 Mobile/11A465 Safari/9537.53 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
)
FACEBOOK_IN_APP = IPHONE.replace("Safari/604.1", "[FBAN/FBIOS;FBAV/460.0.0;FBBV/123;FBDV/iPhone15,2]")
CURL = "curl/8.5.0"


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        (IPHONE, "mobile"),
        (FACEBOOK_IN_APP, "mobile"),
        (IPAD, "tablet"),  # says Mobile too: iPad wins
        (IPADOS_DESKTOP_MODE, "desktop"),  # iPadOS asks for desktop pages: a Mac to any server
        (ANDROID_PHONE, "mobile"),
        (ANDROID_TABLET, "tablet"),  # Android without "Mobile"
        (GALAXY_TAB_SAMSUNG, "tablet"),
        (FIREFOX_ANDROID_PHONE, "mobile"),
        (FIREFOX_ANDROID_TABLET, "tablet"),
        (KINDLE_FIRE, "tablet"),
        (KINDLE_DESKTOP_MODE, "tablet"),
        (CHROME_WINDOWS, "desktop"),
        (FIREFOX_LINUX, "desktop"),
        (IE_TOUCH_LAPTOP, "desktop"),  # "Tablet PC" is Windows on a touch laptop
        (CHROMEBOOK, "desktop"),
        (OPERA_MINI, "mobile"),
        (WINDOWS_PHONE, "mobile"),
        (BLACKBERRY, "mobile"),
        (ANDROID_TV, "desktop"),
        (FIRE_TV, "desktop"),  # a TV, although its WebView says Mobile
        (TIZEN_TV, "desktop"),
        (GOOGLEBOT_SMARTPHONE, "mobile"),  # crawlers get what the device they present would get
        (GOOGLEBOT_DESKTOP, "desktop"),
        (BINGBOT_MOBILE, "mobile"),
        (CURL, "desktop"),
        ("", "desktop"),
    ],
)
def test_user_agent_table(user_agent: str, device: str) -> None:
    assert classify_user_agent(user_agent) == device
    assert device_class(user_agent) == device


@pytest.mark.parametrize(
    ("hint", "user_agent", "device"),
    [
        ("?1", CHROME_WINDOWS, "mobile"),  # the browser's own answer wins (a phone in desktop mode says ?0)
        ("?0", ANDROID_PHONE, "desktop"),  # "request desktop site" on a phone
        ("?0", ANDROID_TABLET, "tablet"),  # Chrome on an Android tablet: not mobile, and a tablet
        ("?0", CHROME_WINDOWS, "desktop"),
        (" ?1 ", None, "mobile"),
        ("?0", None, "desktop"),
        ("yes", ANDROID_PHONE, "mobile"),  # not a structured boolean: ignored, the User-Agent decides
        (None, None, "desktop"),
    ],
)
def test_the_client_hint_wins(hint: str | None, user_agent: str | None, device: str) -> None:
    assert device_class(user_agent, hint) == device


def test_client_hint_values() -> None:
    assert [client_hint_mobile(v) for v in ("?1", "?0", "1", "", None, "?1;x")] == [
        True,
        False,
        None,
        None,
        None,
        None,
    ]
