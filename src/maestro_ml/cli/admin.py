"""Operator commands: ``db upgrade``, ``users``, ``api-keys`` — straight against the database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from maestro_ml.auth.permissions import Role
from maestro_ml.auth.principal import Principal

from .settings_options import load_settings

console = Console()
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Users (operator access, no login needed).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (operator access).", no_args_is_help=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="data directory")]


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Apply all pending migrations."""
    from maestro_ml.storage.migrate import current_revision, upgrade

    container = _container(data_dir, migrate=False)
    upgrade(container.engine)
    console.print(f"schema at revision [bold]{current_revision(container.engine)}[/]")


def _container(data_dir: Path | None, *, migrate: bool = True):  # type: ignore[no-untyped-def]
    # Imported here: wiring loads the whole server (scikit-learn included), which other
    # commands of the CLI should not pay for at start-up.
    from maestro_ml.bootstrap import build_container

    return build_container(load_settings(data_dir), migrate=migrate)


def _operator(container, email: str) -> Principal:  # type: ignore[no-untyped-def]
    """Act as an existing user (found by email), as the platform operator would."""
    with container.uow.system(write=False) as uow:
        user = uow.users.find_by_email(email.lower())
        if user is None:
            console.print(f"[red]no user with email {email}[/]")
            raise typer.Exit(1)
        return Principal(user.id, user.tenant_id, Role(user.role), user.email)


@users_app.command("create")
def users_create(
    email: str, role: Annotated[str, typer.Option(help="role")] = "viewer",
    as_user: Annotated[str, typer.Option("--as", help="acting admin's email")] = "",
    tenant_id: Annotated[str | None, typer.Option(help="target tenant id")] = None,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)] = "",
    data_dir: DataDir = None,
) -> None:
    """Create a user, acting as an existing admin (--as)."""
    container = _container(data_dir)
    principal = _operator(container, as_user)
    user = container.identity.create_user(principal, email, password, role, tenant_id)
    console.print(f"created user [bold]{user.email}[/] ({user.role}) id={user.id}")


@users_app.command("list")
def users_list(
    as_user: Annotated[str, typer.Option("--as", help="acting user's email")],
    data_dir: DataDir = None,
) -> None:
    container = _container(data_dir)
    principal = _operator(container, as_user)
    table = Table("id", "email", "role", "active", "created")
    for user in container.identity.list_users(principal, 1000, None).items:
        table.add_row(user.id, user.email, user.role, str(user.is_active), str(user.created_at))
    console.print(table)


@keys_app.command("create")
def keys_create(
    as_user: Annotated[str, typer.Option("--as", help="the key owner's email")],
    name: Annotated[str, typer.Option(help="key name")] = "cli",
    role: Annotated[str | None, typer.Option(help="role (default: the user's)")] = None,
    expires_in_days: Annotated[int | None, typer.Option(help="expiry")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create an API key for a user; the key is printed once."""
    container = _container(data_dir)
    principal = _operator(container, as_user)
    row, key = container.identity.create_api_key(principal, name, role, expires_in_days)
    console.print(f"API key [bold]{row.name}[/] ({row.role}) id={row.id}")
    print(key)


@keys_app.command("list")
def keys_list(
    as_user: Annotated[str, typer.Option("--as", help="acting user's email")],
    data_dir: DataDir = None,
) -> None:
    container = _container(data_dir)
    principal = _operator(container, as_user)
    table = Table("id", "name", "prefix", "role", "expires", "revoked", "last used")
    for key in container.identity.list_api_keys(principal, 1000, None).items:
        table.add_row(key.id, key.name, key.prefix, key.role, str(key.expires_at),
                      str(key.revoked_at), str(key.last_used_at))
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: str, as_user: Annotated[str, typer.Option("--as", help="acting user's email")],
    data_dir: DataDir = None,
) -> None:
    container = _container(data_dir)
    principal = _operator(container, as_user)
    container.identity.revoke_api_key(principal, key_id)
    console.print(f"revoked {key_id}")
