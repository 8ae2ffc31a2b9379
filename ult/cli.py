"""The ``ult`` command. Each sub-command is a small function over the core."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from dataclasses import replace
from pathlib import Path

import redis

from ult import __version__, run
from ult.connection import connect
from ult.errors import UltError
from ult.settings import Settings, describe, load_settings, markdown_table, shown_default

EPILOG = "Settings (environment variables, or a .env file):\n" + "\n".join(
    f"  {env:<22} {help} (default: {shown_default(default)})" for env, default, help in describe()
)


def cmd_settings(args: argparse.Namespace) -> int:
    if args.markdown:
        print(markdown_table(), end="")
        return 0
    for env, default, help in describe():
        print(f"{env}={'' if default is None else default}\n    {help}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from ult.launcher import up

    return up(load_settings(), with_dashboard=not args.no_dashboard)


def require_schema(settings: Settings) -> None:
    """Start only on data of this ULT's schema version (UltError otherwise, one line)."""
    from ult.migrate import check_version

    r = connect(settings)
    try:
        check_version(r)
    finally:
        r.close()


def cmd_serve(args: argparse.Namespace) -> int:
    from ult.service.workers import serve  # sets up metrics before the app is imported

    settings = load_settings()
    require_schema(settings)
    serve(settings, port=args.port)
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from ult.dashboard.launch import run_dashboard

    settings = load_settings()
    require_schema(settings)
    return run_dashboard(settings, port=args.port, announce=not args.quiet)


def _bookmarks(settings: Settings) -> Path:
    from ult.analytics.lake.layout import bookmark_path

    return bookmark_path(settings.lake_path, "any").parent  # the directory of every bookmark


def cmd_backup(args: argparse.Namespace) -> int:
    from ult.backup import backup

    settings = load_settings()
    r = connect(settings, decode_responses=False)  # DUMP payloads are bytes
    print(backup(r, Path(args.dir), _bookmarks(settings)).summary())
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from ult.backup import restore

    settings = load_settings()
    r = connect(settings, decode_responses=False)
    print(restore(r, Path(args.dir), _bookmarks(settings), force=args.force))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from ult.migrate import migrate

    r = connect(load_settings())
    print(migrate(r, on_step=lambda line: print(line, flush=True)).summary())
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    from ult.places import resolver_from_settings
    from ult.qr import scan_url
    from ult.sponsors import register

    settings = load_settings()
    place = resolver_from_settings(settings).resolve(args.name, args.address, args.country)
    reg = register(
        connect(settings),
        args.name,
        args.address,
        args.country,
        place.place_id,
        formatted_address=place.formatted_address,
        verified=place.verified,
    )
    out = reg.to_dict() | {"scan_url": scan_url(settings.public_url, reg.sid)}
    print(json.dumps(out, indent=2, ensure_ascii=False))
    print("Keep the owner_key: it is shown only once.", file=sys.stderr)
    return 0


def cmd_qr(args: argparse.Namespace) -> int:
    from ult.qr import scan_url, write_qr
    from ult.sponsors import get_profile

    settings = load_settings()
    if run(connect(settings), get_profile(args.sid)) is None:
        raise UltError("unknown_sponsor", f"No business with id '{args.sid}'.")
    url = scan_url(settings.public_url, args.sid, args.at)
    path = write_qr(url, args.output or f"{args.sid}.png")
    print(json.dumps({"file": str(path), "url": url}))
    return 0


def cmd_rule(args: argparse.Namespace) -> int:
    from ult.rules import get_rule, set_rule

    r = connect(load_settings())
    current = run(r, get_rule(args.sid))
    changes = {
        name: getattr(args, name)
        for name in (
            "points_per_scan",
            "points_needed",
            "reward",
            "approval",
            "daily_cap",
            "expiry_days",
            "voucher_min",
            "require_code",
        )
        if getattr(args, name) is not None
    }
    if args.cooldown is not None:
        changes["cooldown_min"] = args.cooldown
    rule = run(r, set_rule(args.sid, args.owner_key, replace(current, **changes)))
    print(json.dumps(rule.to_dict(), indent=2, ensure_ascii=False))
    return 0


def cmd_staff(args: argparse.Namespace) -> int:
    from ult.staff import check_name, create_staff_key, list_staff_keys, revoke_staff_key

    r = connect(load_settings())
    if args.name is not None:
        key = run(r, create_staff_key(args.sid, args.owner_key, args.name))
        out = {"sid": args.sid, "name": check_name(args.name), "staff_key": key}
        print(json.dumps(out, indent=2, ensure_ascii=False))
        print("Keep the staff_key: it is shown only once.", file=sys.stderr)
    elif args.revoke is not None:
        from ult.service.notify import Notifier

        run(r, revoke_staff_key(args.sid, args.owner_key, args.revoke))
        notifier = Notifier(load_settings().effective_redis_url)
        try:  # its tills still watching are dropped too
            notifier.staff_revoked(args.sid, check_name(args.revoke))
        finally:
            notifier.close()
        print(json.dumps({"sid": args.sid, "revoked": args.revoke}))
    else:
        staff = run(r, list_staff_keys(args.sid, args.owner_key))
        print(json.dumps([s.to_dict() for s in staff], indent=2, ensure_ascii=False))
    return 0


def cmd_promo(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo

    from ult import promotions as pr
    from ult.sponsors import check_owner

    r = connect(load_settings())
    run(r, check_owner(args.sid, args.owner_key))  # a wrong key learns nothing, even with --list
    if args.tz:
        pr.set_zone(r, args.sid, args.owner_key, args.tz)
    if args.delete:
        left = pr.delete_promotion(r, args.sid, args.owner_key, args.delete)
        print(json.dumps({"deleted": args.delete, "promotions": [p.to_dict() for p in left]}))
    elif args.list:
        out: dict[str, object] = {"tz": pr.sponsor_zone(r, args.sid)}
        out["promotions"] = [p.to_dict() for p in pr.list_promotions(r, args.sid)]
        print(json.dumps(out, indent=2, ensure_ascii=False))
    elif args.name is not None or args.multiplier is not None:
        promo = pr.new_promotion(
            args.name,
            args.multiplier,
            start=args.start,
            end=args.end,
            days=args.days,
            from_time=args.from_time,
            to_time=args.to_time,
            zone=ZoneInfo(pr.sponsor_zone(r, args.sid)),
        )
        promo = pr.add_promotion(r, args.sid, args.owner_key, promo)
        print(json.dumps(promo.to_dict(), indent=2, ensure_ascii=False))
    elif args.tz:
        print(json.dumps({"tz": args.tz}))
    else:
        raise UltError(
            "bad_request", "Say what to do: --name … --multiplier …, --list or --delete ID."
        )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from ult.sponsors import check_owner, count_key_failure, key_failures

    r = connect(load_settings())
    try:
        profile = run(r, check_owner(args.sid, args.owner_key))
    except UltError as e:
        if e.code == "unauthorized":  # a wrong key here is a wrong key too
            run(r, count_key_failure(args.sid))
        raise
    out = profile.public() | {"key_failures": run(r, key_failures(args.sid))}
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


def _yes_no(value: str) -> bool:
    if value.lower() in ("yes", "true", "1", "on"):
        return True
    if value.lower() in ("no", "false", "0", "off"):
        return False
    raise argparse.ArgumentTypeError("use yes or no")


# Commands that live in their own module, which adds them with ``configure(subparsers)``.
# They are imported only when asked for (or for --help), so `ult serve` never loads them.
MODULE_COMMANDS = {
    "demo": "ult.demo",
    "export": "ult.analytics.export",
    "bench": "ult.bench",
    "archive": "ult.analytics.lake.cli",
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ult",
        description="ULT — anonymous loyalty cards on QR codes.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("up", help="start Redis (embedded), the scan service and the dashboard")
    p.add_argument("--no-dashboard", action="store_true", help="do not start the Voilà dashboard")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("serve", help="run the scan service only")
    p.add_argument("--port", type=int, help="port (default: ULT_PORT)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("dashboard", help="run the Voilà sponsor dashboard only")
    p.add_argument("--port", type=int, help="port (default: ULT_DASHBOARD_PORT)")
    p.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)  # for `ult up`
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("settings", help="print every setting with its default and help")
    p.add_argument(
        "--markdown", action="store_true", help="as the README's table (README.md, Configuration)"
    )
    p.set_defaults(func=cmd_settings)

    p = sub.add_parser("register", help="register a business; prints its sid and owner key")
    p.add_argument("--name", required=True, help="business name")
    p.add_argument("--address", required=True, help="street address")
    p.add_argument("--country", required=True, help="ISO 3166 two-letter code, e.g. SE")
    p.set_defaults(func=cmd_register)

    p = sub.add_parser("qr", help="write the QR code of a business as PNG or SVG")
    p.add_argument("sid")
    p.add_argument("-o", "--output", help="FILE.png or FILE.svg (default: SID.png)")
    p.add_argument("--at", help="tag of where the code hangs, e.g. table-3")
    p.set_defaults(func=cmd_qr)

    p = sub.add_parser("rule", help="change the reward rule of a business; prints it")
    p.add_argument("sid")
    p.add_argument("--owner-key", required=True)
    p.add_argument("--points-per-scan", type=int)
    p.add_argument("--points-needed", type=int)
    p.add_argument("--reward", help='e.g. "10%% off your tab"')
    p.add_argument("--approval", choices=["instant", "staff"])
    p.add_argument("--cooldown", type=int, metavar="MINUTES", help="minutes between counted scans")
    p.add_argument("--daily-cap", type=int, help="counted scans per card per day (0: no cap)")
    p.add_argument("--expiry-days", type=int, help="points lapse after N days without a visit")
    p.add_argument("--voucher-min", type=int, help="minutes an approved voucher stays valid")
    p.add_argument(
        "--require-code", type=_yes_no, metavar="yes|no", help="require the counter code"
    )
    p.set_defaults(func=cmd_rule)

    p = sub.add_parser("staff", help="make, list or revoke the staff keys of a business")
    p.add_argument("sid")
    p.add_argument("--owner-key", required=True)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--name", help="make a staff key with this name; prints it once")
    what.add_argument("--revoke", metavar="NAME", help="revoke the staff key with this name")
    what.add_argument("--list", action="store_true", help="list the staff keys (names only)")
    p.set_defaults(func=cmd_staff)

    p = sub.add_parser(
        "status", help="print a business's profile and the wrong keys tried for it (JSON)"
    )
    p.add_argument("sid")
    p.add_argument("--owner-key", required=True)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "promo",
        help="add, list or delete promotions (points multiplied while one runs)",
        description="One-off: --start/--end (ISO 8601; no offset: the business's time zone). "
        "Recurring: --days tue-thu --from 14:00 --to 17:00 (local time; --to before --from runs "
        "past midnight). Overlapping promotions: the largest multiplier wins.",
    )
    p.add_argument("sid")
    p.add_argument("--owner-key", required=True)
    p.add_argument("--name", help='e.g. "Double points"')
    p.add_argument("--multiplier", help="more than 0, at most 10, e.g. 2 or 1.5")
    p.add_argument("--start", help="ISO 8601, e.g. 2026-12-24T14:00+01:00")
    p.add_argument("--end", help="ISO 8601")
    p.add_argument("--days", help="recurring: weekdays, e.g. tue-thu or sat,sun")
    p.add_argument("--from", dest="from_time", metavar="HH:MM", help="recurring: start time")
    p.add_argument("--to", dest="to_time", metavar="HH:MM", help="recurring: end time")
    p.add_argument("--list", action="store_true", help="print the promotions and the time zone")
    p.add_argument("--delete", metavar="ID", help="delete promotion ID")
    p.add_argument("--tz", help="set the business's IANA time zone, e.g. Europe/Stockholm")
    p.set_defaults(func=cmd_promo)

    p = sub.add_parser(
        "backup", help="copy everything ULT keeps in Redis, and the lake's bookmarks, to DIR"
    )
    p.add_argument("dir", metavar="DIR", help="a new or empty directory")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="fill an empty Redis (and the lake's bookmarks) from DIR")
    p.add_argument("dir", metavar="DIR", help="a directory written by `ult backup`")
    p.add_argument("--force", action="store_true", help="replace the ULT data already there")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("migrate", help="upgrade the data in Redis to this ULT's schema version")
    p.set_defaults(func=cmd_migrate)

    first = argv[0] if argv else "--help"
    for name, module in MODULE_COMMANDS.items():
        if first == name or first in ("-h", "--help"):
            importlib.import_module(module).configure(sub)
    return parser


def join_key_values(argv: list[str]) -> list[str]:
    """``--owner-key -eZ3…`` → ``--owner-key=-eZ3…`` for every option named ``--…key``.

    Keys are base64url, so about one in 64 starts with ``-``, which argparse would take for
    an option and answer "expected one argument".
    """
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--") and arg.endswith("-key") and "=" not in arg and i + 1 < len(argv):
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
        else:
            out.append(arg)
            i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    argv = join_key_values(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    try:
        return args.func(args) or 0
    except UltError as e:
        print(f"ult: {e.message}", file=sys.stderr)
        return 2
    except redis.exceptions.ConnectionError:
        url = load_settings().effective_redis_url
        print(f"ult: cannot reach Redis at {url} — is `make run` running?", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
