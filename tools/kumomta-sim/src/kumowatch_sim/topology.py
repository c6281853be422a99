"""The simulated world: tenants, campaigns, destination domains, sites, providers, egress pools.

Site names follow KumoMTA's MX factoring (``factor_names``); a long-tail domain is its own site
``mx.<domain>`` and, with no shaping provider rule, its provider label is the site name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Site:
    """One MX site: every domain sharing an MX set."""

    name: str
    provider: str
    mx_host: str
    mx_addr: str
    capacity: float  # messages per second one ready queue can deliver
    connection_limit: int


@dataclass(frozen=True, slots=True)
class Domain:
    """A destination domain and the share of traffic it gets."""

    name: str
    site: Site
    weight: float


@dataclass(frozen=True, slots=True)
class Tenant:
    """A sending tenant, its egress pool and campaigns (``""`` means no campaign)."""

    name: str
    pool: str
    weight: float
    campaigns: tuple[str, ...]


POOLS: Final[dict[str, tuple[str, ...]]] = {"pool1": ("ip-1", "ip-2"), "pool2": ("ip-3",)}
SOURCE_ADDRESSES: Final[dict[str, str]] = {
    "ip-1": "10.0.0.11",
    "ip-2": "10.0.0.12",
    "ip-3": "10.0.0.13",
}
DEFAULT_POOL: Final = "pool1"

TENANTS: Final[tuple[Tenant, ...]] = (
    Tenant("acme", "pool1", 30, ("newsletter", "promo", "welcome")),
    Tenant("globex", "pool1", 22, ("digest", "flash-sale")),
    Tenant("initech", "pool2", 18, ("tps-reports", "")),
    Tenant("umbrella", "pool2", 12, ("alerts",)),
    Tenant("hooli", "pool1", 12, ("",)),
)
# Share of traffic sent with neither tenant nor campaign (queue name is the bare domain).
UNTENANTED_WEIGHT: Final = 6.0


def _site(name: str, provider: str, host: str, addr: str, cap: float, limit: int) -> Site:
    return Site(name, provider, host, addr, cap, limit)


GMAIL: Final = _site(
    "(alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.google.com",
    "gmail",
    "gmail-smtp-in.l.google.com.",
    "142.251.2.27",
    400.0,
    32,
)
YAHOO: Final = _site(
    "(mta5|mta6|mta7).am0.yahoodns.net", "yahoo", "mta6.am0.yahoodns.net.", "67.195.204.72", 200, 16
)
AOL: Final = _site(
    "mx-aol.mail.gm0.yahoodns.net",
    "yahoo",
    "mx-aol.mail.gm0.yahoodns.net.",
    "67.195.204.79",
    100,
    8,
)
OUTLOOK: Final = _site(
    "outlook-com.olc.protection.outlook.com",
    "outlook",
    "outlook-com.olc.protection.outlook.com.",
    "52.101.8.44",
    200,
    16,
)
HOTMAIL: Final = _site(
    "hotmail-com.olc.protection.outlook.com",
    "outlook",
    "hotmail-com.olc.protection.outlook.com.",
    "52.101.42.10",
    200,
    16,
)
LIVE: Final = _site(
    "live-com.olc.protection.outlook.com",
    "outlook",
    "live-com.olc.protection.outlook.com.",
    "52.101.40.28",
    100,
    8,
)
ICLOUD: Final = _site(
    "(mx01|mx02).mail.icloud.com", "icloud", "mx01.mail.icloud.com.", "17.57.154.33", 150, 10
)
COMCAST: Final = _site(
    "(mx1h1|mx2h1).comcast.net", "comcast", "mx1h1.comcast.net.", "96.114.157.80", 100, 8
)

LONG_TAIL: Final[tuple[str, ...]] = (
    "example.com",
    "example.net",
    "example.org",
    "contoso.example",
    "fabrikam.example",
    "northwind.example",
    "tailspin.example",
    "wingtip.example",
    "adatum.example",
    "litware.example",
    "proseware.example",
    "woodgrove.example",
)


def long_tail_site(domain: str, index: int) -> Site:
    """The site of a long-tail domain: its own ``mx.<domain>``; provider is the site name."""
    name = f"mx.{domain}"
    addr = f"198.51.{(index // 250) % 250}.{index % 250 + 1}"
    return Site(name, name, name + ".", addr, 50.0, 4)


def build_domains() -> tuple[Domain, ...]:
    """The default destination domains with traffic weights."""
    big = (
        ("gmail.com", GMAIL, 30.0),
        ("googlemail.com", GMAIL, 1.0),
        ("yahoo.com", YAHOO, 12.0),
        ("aol.com", AOL, 3.0),
        ("outlook.com", OUTLOOK, 8.0),
        ("hotmail.com", HOTMAIL, 8.0),
        ("live.com", LIVE, 2.0),
        ("icloud.com", ICLOUD, 5.0),
        ("me.com", ICLOUD, 1.0),
        ("comcast.net", COMCAST, 4.0),
    )
    domains = [Domain(name, site, weight) for name, site, weight in big]
    domains.extend(Domain(name, long_tail_site(name, i), 2.0) for i, name in enumerate(LONG_TAIL))
    return tuple(domains)


def big_domain(index: int) -> Domain:
    """A generated long-tail domain for the ``big`` scenario."""
    name = f"lt{index:06d}.example.net"
    return Domain(name, long_tail_site(name, index + len(LONG_TAIL)), 0.0)


def queue_name(campaign: str | None, tenant: str | None, domain: str) -> str:
    """KumoMTA's scheduled queue name for a (campaign, tenant, domain) triple."""
    if campaign:
        return f"{campaign}:{tenant or ''}@{domain}"
    if tenant:
        return f"{tenant}@{domain}"
    return domain


def ready_queue_name(source: str, site: str) -> str:
    """KumoMTA's ready queue name ``<source>-><site>@smtp_client``."""
    return f"{source}->{site}@smtp_client"
