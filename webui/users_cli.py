"""``savoir users``: local accounts for signing in to the web UI."""

from __future__ import annotations

import sys

import click

from webui.accounts import AccountError, Accounts


def _accounts(ctx: click.Context) -> Accounts:
    from webui.cli import _savoir

    savoir = _savoir(ctx)
    return Accounts(savoir.store, savoir.settings.auth)


def _password(password_stdin: bool) -> str:
    if password_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    else:
        value = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


def _run(action):
    try:
        return action()
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def users() -> None:
    """Local accounts: who may sign in, their groups, who is an admin."""


@users.command("add")
@click.argument("username")
@click.option("--admin", is_flag=True, help="May use the admin pages.")
@click.option("--group", "groups", multiple=True, help="A group whose documents they may see (repeat).")
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--email", default="", help="Email (links the account to the person's page).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def add(ctx, username, admin, groups, display_name, email, password_stdin) -> None:
    """Create an account (the password is asked twice, or read with --password-stdin)."""
    accounts = _accounts(ctx)
    account = _run(
        lambda: accounts.add(
            username,
            _password(password_stdin),
            admin=admin,
            groups=list(groups),
            display_name=display_name,
            email=email,
        )
    )
    role = "admin" if account.admin else "user"
    click.echo(f"added {role} {account.username} (groups: {', '.join(account.groups) or 'public only'})")


@users.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def passwd(ctx, username, password_stdin) -> None:
    """Set an account's password (and unlock it)."""
    accounts = _accounts(ctx)
    _run(lambda: accounts.set_password(username, _password(password_stdin)))
    click.echo(f"password of {username.casefold()} changed; its sessions have ended")


@users.command("groups")
@click.argument("username")
@click.argument("groups", nargs=-1)
@click.option("--admin/--no-admin", default=None, help="Make or stop making them an admin.")
@click.pass_context
def set_groups(ctx, username, groups, admin) -> None:
    """Replace an account's groups (none: public documents only)."""
    accounts = _accounts(ctx)
    account = _run(lambda: accounts.set_groups(username, list(groups), admin=admin))
    click.echo(
        f"{account.username}: groups {', '.join(account.groups) or '(public only)'}"
        + ("; admin" if account.admin else "")
    )


@users.command("disable")
@click.argument("username")
@click.option("--enable", is_flag=True, help="Let the account sign in again.")
@click.pass_context
def disable(ctx, username, enable) -> None:
    """Stop an account from signing in (its sessions end at once)."""
    accounts = _accounts(ctx)
    _run(lambda: accounts.set_disabled(username, not enable))
    click.echo(f"{username.casefold()} {'enabled' if enable else 'disabled'}")


@users.command("remove")
@click.argument("username")
@click.pass_context
def remove(ctx, username) -> None:
    """Delete an account."""
    accounts = _accounts(ctx)
    _run(lambda: accounts.remove(username))
    click.echo(f"removed {username.casefold()}")


@users.command("list")
@click.pass_context
def list_users(ctx) -> None:
    """Every account, its groups and state."""
    rows = _accounts(ctx).list()
    if not rows:
        click.echo("no accounts yet: savoir users add NAME [--admin]")
    for a in rows:
        state = "disabled" if a.disabled else ("locked" if a.locked_until else "")
        click.echo(
            f"{a.username:<24} {'admin' if a.admin else 'user':<6} "
            f"{', '.join(a.groups) or '(public only)':<30} {state}".rstrip()
        )
