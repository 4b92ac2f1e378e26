"""``savoir peers``: the federation's peers as this node sees them, and whether they answer.

``savoir peers check`` asks every peer three things, each with a message an admin can
act on: does it answer at all (``/healthz``), do the clocks agree (its ``Date`` header,
against ``max_skew_seconds``), and does it accept this node's key (a signed ping).
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import click
import requests

from config import secrets
from config.loader import load_settings


def _echo(message: str = "", **options) -> None:
    click.echo(secrets.scrub(message), **options)


@click.group()
def peers() -> None:
    """This node's federation peers."""


@peers.command("list")
@click.pass_context
def list_peers(ctx: click.Context) -> None:
    """The peers in the settings (never their keys)."""
    settings = load_settings(ctx.obj["config_path"]).federation
    if not settings.node:
        _echo("federation is off: set [federation] node (and add [[federation.peers]])")
        return
    _echo(
        f"this node: {settings.node} ({settings.agency or 'no agency'}), deadline {settings.deadline_ms} ms"
    )
    for p in settings.peers:
        state = "enabled" if p.enabled else "disabled"
        rollover = ", key rollover in progress" if p.previous_secret else ""
        _echo(f"  {p.name:<16} {p.url:<40} {p.agency or '-':<10} {state}, timeout {p.timeout:g} s{rollover}")


def check_peer(settings, peer) -> list[tuple[bool, str]]:
    """(ok, message) for each check of *peer*; stops at the first that fails."""
    from webui.federation import PING_PATH, PeerError, post_signed

    out: list[tuple[bool, str]] = []
    base = peer.url.rstrip("/")
    try:
        started = time.time()
        health = requests.get(f"{base}/healthz", timeout=peer.timeout, allow_redirects=False)
        rtt = time.time() - started
    except requests.RequestException as exc:
        reason = "timed out" if isinstance(exc, requests.Timeout) else "connection refused or unreachable"
        return [
            (False, f"not reachable at {base} ({reason}): is savoir serve running there, and the URL right?")
        ]
    if health.status_code != 200:
        return [(False, f"{base}/healthz answered HTTP {health.status_code}: is this URL a Savoir node?")]
    out.append((True, f"reachable ({rtt * 1000:.0f} ms)"))
    date = health.headers.get("Date")
    if date:
        skew = abs(parsedate_to_datetime(date).timestamp() - (started + rtt / 2))
        if skew > settings.max_skew_seconds:
            out.append(
                (
                    False,
                    f"clock {skew:.0f} s away from this node's (at most {settings.max_skew_seconds} s): fix NTP",
                )
            )
            return out
        out.append((True, f"clocks agree within {max(skew, 1):.0f} s"))
    try:
        answer = post_signed(settings, peer, PING_PATH, {"ping": True}, peer.timeout)
    except PeerError as exc:
        text = str(exc)
        if "unknown node" in text:
            hint = f"add a [[federation.peers]] entry named {settings.node!r} in {peer.name}'s settings"
        elif "bad signature" in text:
            hint = f"the secret for {settings.node}<->{peer.name} differs between the two nodes"
        elif "not enabled" in text:
            hint = f"set [federation] node = {peer.name!r} on that node"
        else:
            hint = "see that node's log"
        out.append((False, f"key refused: {text} ({hint})"))
        return out
    if answer.get("node") != peer.name:
        out.append(
            (False, f"it calls itself {answer.get('node')!r}, not {peer.name!r}: fix the peer's name here")
        )
        return out
    out.append((True, f"key accepted by {peer.name} ({answer.get('agency') or 'no agency'})"))
    return out


@peers.command("check")
@click.pass_context
def check(ctx: click.Context) -> None:
    """Test every enabled peer: reachable, clocks agree, key accepted. Exit 1 if any fails."""
    settings = load_settings(ctx.obj["config_path"]).federation
    if not settings.node:
        _echo("federation is off: set [federation] node (and add [[federation.peers]])", err=True)
        ctx.exit(2)
    failed = 0
    for peer in settings.peers:
        if not peer.enabled:
            _echo(f"{peer.name}: disabled, not checked")
            continue
        results = check_peer(settings, peer)
        good = all(ok for ok, _ in results)
        failed += not good
        _echo(f"{peer.name}: {'ok' if good else 'FAILED'}")
        for ok, message in results:
            _echo(f"  {'ok ' if ok else 'NO '} {message}")
    if failed:
        ctx.exit(1)
