"""The `voice-interview` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from bridge.clock import utcnow
from evaluation.estimate import estimate_cost, estimate_relay_cost
from evaluation.prices import PriceError
from evaluation.templates import (
    DEFAULT_TEMPLATE,
    Template,
    TemplateError,
    parse_template,
    template_to_dict,
)
from persistence.embedded import EmbeddedServerError
from persistence.store import Store, StoreUnavailable
from persistence.templates import PhoneNumberTaken
from service.app import create_app
from service.logs import configure_logging
from service.server import SERVERS, ServerName, run
from service.server import serve as serve_app
from service.services import Services
from service.settings import ConfigError, Settings, load_settings
from telephony.api.auth import SCOPES, new_key

log = logging.getLogger("voice_interview")
T = TypeVar("T")


def _settings_or_exit() -> Settings:
    try:
        return load_settings(os.environ)
    except ConfigError as exc:
        print("voice-interview: configuration error", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(2) from None


async def _serve(settings: Settings, server: ServerName, host: str, port: int) -> None:
    # Services start before the server so that a database that cannot start ends the
    # process with one clear line instead of a lifespan traceback.
    svc = Services(settings)
    try:
        await svc.start()
        await serve_app(create_app(settings, svc), server, host, port, settings.log_level)
    finally:
        await svc.stop()


def serve(args: argparse.Namespace) -> int:
    settings = _settings_or_exit()
    configure_logging(settings.log_level)
    for feature in settings.disabled_features():
        log.warning("feature off: %s", feature)
    for warning in settings.model_warnings():
        log.warning("%s", warning)
    host = args.host or settings.host
    port = args.port or settings.port
    try:
        run(_serve(settings, args.server, host, port))
    except (EmbeddedServerError, StoreUnavailable, OSError) as exc:
        print(f"voice-interview: cannot start: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def _template_from(path: str | None) -> Template:
    if path is None:
        return DEFAULT_TEMPLATE
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"voice-interview: cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise SystemExit(f"voice-interview: {path} must hold a JSON object")
    try:
        return parse_template(data)
    except TemplateError as exc:
        print(f"voice-interview: {path} is not a valid template", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(2) from None


def estimate(args: argparse.Namespace) -> int:
    settings = _settings_or_exit()
    template = _template_from(args.template)
    model = args.model or settings.openai_realtime_model
    try:
        if args.engine == "relay":
            model = args.model or settings.openai_text_model
            result = estimate_relay_cost(
                template,
                args.minutes,
                settings.prices,
                model,
                realtime_model=settings.openai_realtime_model,
                direction=args.direction,
            )
        else:
            result = estimate_cost(
                template,
                args.minutes,
                settings.prices,
                model,
                transcription_model=settings.transcription_model,
                direction=args.direction,
            )
    except PriceError as exc:
        print(f"voice-interview: {exc}", file=sys.stderr)
        return 2
    print(f"{args.minutes:g}-minute interview on {model}: ${result.total:.2f}")
    for name, line in result.breakdown.to_dict()["lines"].items():
        if line["usd"]:
            print(f"  {name:<24} ${line['usd']:.4f}")
    print(f"assumptions: {json.dumps(result.to_dict()['assumptions'])}")
    return 0


def save_template(args: argparse.Namespace) -> int:
    settings = _settings_or_exit()
    template = _template_from(args.file)
    configure_logging("WARNING")

    async def run() -> None:
        svc = Services(settings)
        await svc.start(background=False)
        try:
            assert svc.store is not None
            await svc.store.templates.save(
                template.template_id,
                template_to_dict(template),
                utcnow(),
                list(args.number or []),
            )
        finally:
            await svc.stop()

    try:
        asyncio.run(run())
    except (EmbeddedServerError, StoreUnavailable, PhoneNumberTaken) as exc:
        print(f"voice-interview: {exc}", file=sys.stderr)
        return 1
    routed = f" for calls to {', '.join(args.number)}" if args.number else ""
    print(f"saved template {template.template_id!r}{routed}")
    return 0


def _with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run `work` on the configured database (started and stopped around it)."""
    configure_logging("WARNING")

    async def run() -> T:
        svc = Services(settings)
        await svc.start(background=False)
        try:
            assert svc.store is not None
            return await work(svc.store)
        finally:
            await svc.stop()

    return asyncio.run(run())


def api_key(args: argparse.Namespace) -> int:
    settings = _settings_or_exit()
    try:
        if args.action == "create":
            key, key_id, key_hash = new_key()
            _with_store(
                settings,
                lambda store: store.api_keys.add(
                    key_hash, args.label, [args.scope], utcnow(), key_id
                ),
            )
            print(key)
            print(f"created key {key_id} ({args.scope}); it is shown this once", file=sys.stderr)
        elif args.action == "list":
            keys = _with_store(settings, lambda store: store.api_keys.list())
            for k in keys:
                state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
                print(f"{k.key_id or '-':<12}  {','.join(k.scopes):<9}  {state:<18}  {k.label}")
        else:
            if not _with_store(settings, lambda store: store.api_keys.revoke_id(args.id, utcnow())):
                print(f"voice-interview: no active key {args.id!r}", file=sys.stderr)
                return 1
            print(f"revoked key {args.id}")
    except (EmbeddedServerError, StoreUnavailable) as exc:
        print(f"voice-interview: {exc}", file=sys.stderr)
        return 1
    return 0


def check_config(_: argparse.Namespace) -> int:
    settings = _settings_or_exit()
    print("configuration is valid")
    for feature in settings.disabled_features():
        print(f"  off: {feature}")
    for warning in settings.model_warnings():
        print(f"  warning: {warning}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="voice-interview", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the service")
    p_serve.add_argument("--host", help="bind address (default: HOST or 127.0.0.1)")
    p_serve.add_argument("--port", type=int, help="port (default: PORT or 8000)")
    p_serve.add_argument(
        "--server",
        choices=SERVERS,
        default="uvicorn",
        help="HTTP server (default: uvicorn; both serve the same ASGI app)",
    )
    p_serve.set_defaults(func=serve)
    p_check = sub.add_parser("check-config", help="validate the configuration and exit")
    p_check.set_defaults(func=check_config)
    p_est = sub.add_parser("estimate", help="expected cost of an interview")
    p_est.add_argument("--minutes", type=float, required=True)
    p_est.add_argument("--template", help="template JSON file (default: the built-in one)")
    p_est.add_argument("--model", help="Realtime model (default: OPENAI_REALTIME_MODEL)")
    p_est.add_argument("--direction", choices=("inbound", "outbound"), default="inbound")
    p_est.add_argument(
        "--engine",
        choices=("realtime", "relay"),
        default="realtime",
        help="relay: ConversationRelay with OPENAI_TEXT_MODEL (or --model)",
    )
    p_est.set_defaults(func=estimate)
    p_tpl = sub.add_parser("save-template", help="validate a template JSON file and store it")
    p_tpl.add_argument("file")
    p_tpl.add_argument(
        "--number", action="append", help="E.164 number whose inbound calls use it (repeatable)"
    )
    p_tpl.set_defaults(func=save_template)
    p_key = sub.add_parser("api-key", help="create, list or revoke recruiter API keys")
    keys = p_key.add_subparsers(dest="action", required=True)
    p_create = keys.add_parser("create", help="print a new key (shown once)")
    p_create.add_argument("--label", required=True, help="whose key it is, for the list")
    p_create.add_argument("--scope", choices=SCOPES, required=True)
    keys.add_parser("list", help="every key's id, scope, state and label")
    p_revoke = keys.add_parser("revoke", help="revoke a key by its id")
    p_revoke.add_argument("id", help="the key's id, as `api-key list` shows it")
    p_key.set_defaults(func=api_key)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
