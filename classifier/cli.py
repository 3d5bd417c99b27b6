"""The `crmqc` command: a thin shell over the same classify() the service uses."""

import argparse
import contextlib
import csv
import json
import os
import socket
import sqlite3
import sys
import time
from pathlib import Path

from . import config
from .fileio import replacing

EXIT_USAGE = 2
EXIT_FAILED = 1  # the command ran, and some objects failed (listed on stderr)
SCORE_COLUMNS = ("expanded", "score", "category", "missing", "rule")


class CliError(Exception):
    """A user error: printed as one line, exit code 2, no traceback."""


def _output_file(path, what: str) -> Path:
    """`path` as a file to be written; refused up front, before any slow work, if it cannot be."""
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise CliError(f"{what} {path}: is a folder, expected a file name")
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "does not exist"
        raise CliError(f"{what} {path}: folder {folder} {problem}")
    if not os.access(folder, os.W_OK):
        raise CliError(f"{what} {path}: no permission to write in {folder}")
    return path


def _output_dir(path, what: str) -> Path:
    """`path` as a folder to write into (created if missing); refused up front if it cannot be."""
    path = Path(path)
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise CliError(f"{what} {path}: " + ("not a folder" if existing == path else f"{existing} is not a folder"))
    if not os.access(existing, os.W_OK):
        raise CliError(f"{what} {path}: no permission to write in {existing}")
    return path


def _in_range(convert, low, high):
    """An argparse type: `convert(text)` within low..high, else a usage error naming the value."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:  # also refuses nan
            raise argparse.ArgumentTypeError(f"expected a number from {low} to {high}, got {text!r}")
        return value
    return parse


def _os_error(exc: OSError) -> str:
    """`path: reason` for a failed file operation (both paths for a rename)."""
    if exc.filename is None:
        return str(exc)
    paths = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    return f"{paths}: {exc.strerror or exc}"


def _checker(args):
    from .checker import CommentChecker
    return CommentChecker.load(models_dir=args.models_dir, name=args.model)


def cmd_data_build(args) -> int:
    from .training.dataset import build
    report = build()
    print("\n".join(report.lines()))
    return 0


def cmd_train(args) -> int:
    from .training.train import train
    _output_dir(args.models_dir, "--models-dir")
    model = train(name=args.name, models_dir=args.models_dir, tune=args.tune,
                  promote=not args.no_promote, log=lambda m: print(m, file=sys.stderr))
    from .training.evaluate import format_report
    print(f"model {model.version}, metrics on {config.TEST_CSV.name}:")
    print(format_report(model.card["metrics"]["test"]))
    return 0


def cmd_evaluate(args) -> int:
    from .training.dataset import read_labelled
    from .training.evaluate import format_report, metrics_by_part
    rows = read_labelled(Path(args.data))
    checker = _checker(args)
    verdicts = checker.classify_many([r.text for r in rows])
    report = metrics_by_part(rows, verdicts)
    print(f"model {checker.model_version} on {Path(args.data).name}:")
    print(json.dumps(report, ensure_ascii=False, indent=1) if args.json else format_report(report))
    return 0


def cmd_cv(args) -> int:
    from .model.linear import DEFAULT_PARAMS
    from .text.pipeline import TextPipeline
    from .training.dataset import read_labelled
    from .training.grouped import business_of, leave_one_business_out, per_business, summary
    from .training.train import contrasts_for, featurize
    rows = read_labelled(Path(args.data))
    params = dict(DEFAULT_PARAMS, blocks=list(args.blocks),
                  **({"clause_blocks": list(args.clause_blocks)} if args.clause_blocks is not None else {}),
                  **({"fact_C": args.c, "category_C": args.c} if args.c else {}),
                  **({"contrast_weight": args.contrast_weight} if args.contrast_weight is not None else {}),
                  **({"clause_heads": args.clause_heads} if args.clause_heads is not None else {}))
    known = {business_of(r) for r in rows}
    only = set(args.only) if args.only else None
    if only and only - known:
        raise CliError(f"--only: no business {', '.join(sorted(only - known))} in {Path(args.data).name} "
                       f"(there are: {', '.join(sorted(known))})")
    pipeline = TextPipeline.load(config.RULES_DIR)
    items, rejected = featurize(rows, pipeline)
    contrasts = contrasts_for(rows, pipeline)
    print(f"leave one business out over {Path(args.data).name}: {len(rows)} rows, C={params['fact_C']}"
          + (f", blocks {' '.join(params['blocks'])}" if params["blocks"] else "")
          + (f", {len(contrasts)} contrast rows at weight {params['contrast_weight']}"
             if params["contrast_weight"] else "")
          + (", clause heads" if params.get("clause_heads") else "")
          + (f" with {' '.join(params['clause_blocks'])}" if params.get("clause_blocks") else ""),
          file=sys.stderr)
    oof = leave_one_business_out(rows, items, rejected, params, log=lambda m: print(m, file=sys.stderr),
                                 businesses=only, contrasts=contrasts)
    thresholds = args.thresholds or [params["threshold"]]
    for t in thresholds:
        table = per_business(rows, oof, t, only=only)
        print(f"threshold {t}: mean F1 over held-out businesses {summary(table)}")
        print(f"  {'business':<24}{'rows':>6}{'pos':>5}{'P':>8}{'R':>8}{'F1':>8}")
        for business, m in table.items():
            print(f"  {business:<24}{m['rows']:>6}{m['positives']:>5}{m['precision']:>8.3f}{m['recall']:>8.3f}"
                  f"{m['f1']:>8.3f}")
    return 0


def cmd_score(args) -> int:
    if args.input:
        return _score_file(args)
    if args.text is None:
        raise CliError("give a comment to score, or --input FILE.csv --output OUT.csv")
    verdict = _checker(args).classify(args.text, explain=args.explain, evidence=True)
    out = verdict.to_dict()
    if args.explain:
        out["explain"] = verdict.details
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


def _score_file(args) -> int:
    from tqdm import tqdm
    if not args.output:
        raise CliError("--input needs --output OUT.csv")
    out = _output_file(args.output, "--output")
    src = Path(args.input)
    if not src.is_file():
        raise CliError(f"input file not found: {src}")
    try:
        with open(src, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            fields = list(reader.fieldnames or [])
            rows = list(reader)
    except UnicodeDecodeError as exc:
        raise CliError(f"{src.name} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    if "text" not in fields:
        raise CliError(f"{src.name} has no `text` column (columns: {', '.join(fields) or 'none'})")
    checker = _checker(args)
    clash = [c for c in SCORE_COLUMNS if c in fields]
    prefix = "predicted_" if clash else ""  # the input's own columns are never overwritten
    if clash:
        print(f"{src.name} has column(s) {', '.join(clash)} already: the verdict's columns are named "
              f"{prefix}<name>", file=sys.stderr)
    if any(prefix + c in fields for c in SCORE_COLUMNS):
        raise CliError(f"{src.name} has both {', '.join(clash)} and predicted_ columns: rename them first")
    out_fields = fields + [prefix + c for c in SCORE_COLUMNS]
    with replacing(out) as f:
        writer = csv.DictWriter(f, fieldnames=out_fields, extrasaction="ignore")
        writer.writeheader()
        bar = tqdm(total=len(rows), unit="comment", file=sys.stderr, disable=len(rows) < 2000 or args.quiet)
        for start in range(0, len(rows), 512):
            chunk = rows[start:start + 512]
            for row, verdict in zip(chunk, checker.classify_many([r.get("text") or "" for r in chunk])):
                values = (int(verdict.expanded), f"{verdict.score:.4f}", verdict.category, " ".join(verdict.missing),
                          verdict.rule or "")
                writer.writerow({**row, **{prefix + c: v for c, v in zip(SCORE_COLUMNS, values)}})
            bar.update(len(chunk))
        bar.close()
    print(f"scored {len(rows)} comments → {out}", file=sys.stderr)
    return 0


def _store(args):
    from .qa.store import Store
    from .service.settings import Settings
    path = Path(args.store or Settings().store_path)
    if path.is_dir():
        raise CliError(f"labels database {path}: is a folder, expected a file")
    _output_dir(path.parent, "labels database folder")
    try:
        return Store(path)
    except sqlite3.DatabaseError as exc:
        raise CliError(f"labels database {path}: {exc}") from exc


def cmd_pool_import(args) -> int:
    from .training.dataset import labelled_keys
    report = _store(args).import_csv(Path(args.file), labelled_keys(config.DATA_DIR))
    print(f"read {report.read} rows: {report.added} added, {report.duplicates} duplicates skipped, "
          f"{report.empty} empty texts skipped; {report.in_data} already labelled in data/ (kept, never offered "
          "for labelling)")
    return 0


def cmd_labels_export(args) -> int:
    n = _store(args).export_csv(_output_file(args.out, "labels export"))
    print(f"exported {n} labelled comments to {args.out}")
    return 0


def cmd_agreement(args) -> int:
    from .qa.agreement import agreement
    if args.files:
        return _agreement_of_files(args)
    store = _store(args)
    rows = store.current_labels()
    report = agreement(rows, {r["comment_id"]: r["text"] for r in rows})
    disputes = store.disagreements("all")
    unsettled = [d for d in disputes if d["settlement"] is None]
    settled = [d for d in disputes if d["settlement"] is not None]
    if args.json:
        print(json.dumps({**report, "unsettled": unsettled, "settled": settled}, ensure_ascii=False, indent=1))
        return 0
    print(f"annotators: {', '.join(report['annotators']) or 'none'}; comments labelled by several: "
          f"{report['shared_items']}; Krippendorff's alpha: {report['alpha']}")
    for p in report["pairs"]:
        print(f"  {p['a']} ~ {p['b']}: {p['items']} shared, Cohen's kappa {p['kappa']}, agree {p['agree']}")
    print(f"disagreements: {len(disputes)} ({len(unsettled)} unsettled, {len(settled)} settled by a reviewer)")
    shown = unsettled if not args.limit else unsettled[:args.limit]
    if unsettled:
        print(f"unsettled: {len(unsettled)}" + (f", the first {len(shown)}" if len(shown) < len(unsettled) else "")
              + " (exported with the stricter reading until a reviewer settles them on /label)")
    for d in shown:
        reopened = d["previous_settlement"]
        print(f"  #{d['comment_id']} {_labels_of(d)} → stricter: {d['stricter']}"
              + (f" (settled {reopened['category']} by {reopened['reviewer']} before a label changed)"
                 if reopened else "") + f": {_snippet(d['text'])}")
    if len(shown) < len(unsettled):
        print(f"  … {len(unsettled) - len(shown)} more (--limit 0 lists them all)")
    if args.settled:
        shown = settled if not args.limit else settled[:args.limit]
        print(f"settled: {len(settled)}" + (f", the first {len(shown)}" if len(shown) < len(settled) else ""))
        for d in shown:
            s = d["settlement"]
            print(f"  #{d['comment_id']} {_labels_of(d)} → {s['category']} by {s['reviewer']}"
                  + (f" ({_snippet(s['note'], 60)})" if s["note"] else "") + f": {_snippet(d['text'])}")
        if len(shown) < len(settled):
            print(f"  … {len(settled) - len(shown)} more (--limit 0 lists them all)")
    return 0


def _labels_of(dispute: dict) -> str:
    return ", ".join(f"{x['annotator']}={x['category']}" for x in dispute["labels"])


def _snippet(text: str, width: int = 100) -> str:
    """The text on one line, cut to ``width`` characters with an ellipsis."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[:width - 1] + "…"


def _agreement_of_files(args) -> int:
    from .qa.agreement import compare_files
    from .training.dataset import read_labelled
    first, second = (read_labelled(Path(f)) for f in args.files)
    report = compare_files(first, second)
    if not report["shared"]:
        raise CliError(f"no comment is in both {args.files[0]} and {args.files[1]}")
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
        return 0
    e = report["expanded"]
    print(f"{report['shared']} comments in both files ({report['only_first']} only in the first, "
          f"{report['only_second']} only in the second)")
    print(f"label: Cohen's kappa {report['label_kappa']}, agree {report['label_agree']}; "
          f"category: Cohen's kappa {report['category_kappa']}")
    print(f"expanded in both {e['both']}, only in the first {e['only_first']}, only in the second "
          f"{e['only_second']}: F1 {e['f1']} (second against first: precision {e['precision']}, "
          f"recall {e['recall']})")
    print(f"label disagreements: {len(report['disagreements'])}")
    for d in report["disagreements"]:
        print(f"  first={d['first']} second={d['second']}: {d['text'][:100]}")
    return 0


def cmd_retrain(args) -> int:
    from .qa.retrain import Paths, retrain
    from .training.dataset import read_labelled
    _output_dir(args.models_dir, "--models-dir")
    department = read_labelled(Path(args.department)) if args.department else None
    if department is not None and not department:
        raise CliError(f"{args.department}: no labelled comments in it")
    decision = retrain(_store(args), Paths(models_dir=args.models_dir), log=lambda m: print(m, file=sys.stderr),
                       department=department, holdout=args.holdout)
    print(f"candidate {decision.candidate} vs in service {decision.current}: "
          + ("PROMOTED" if decision.promoted else "NOT promoted"))
    for reason in decision.reasons:
        print(f"  {reason}")
    return 0


def cmd_suspects(args) -> int:
    from .qa.retrain import suspects, write_suspects
    out = args.output and _output_file(args.output, "--output")
    rows = suspects(_store(args), confidence=args.confidence, log=lambda m: print(m, file=sys.stderr))
    if out:
        with replacing(out) as f:
            write_suspects(rows, f)
        print(f"{len(rows)} suspects written to {out}")
    else:
        write_suspects(rows, sys.stdout)
    return 0


def cmd_audit(args) -> int:
    from dataclasses import replace
    from datetime import datetime

    from .audit.report import AuditError, run_audit
    from .crm.settings import load_settings, portal_url
    try:
        now = datetime.fromisoformat(args.now) if args.now else None
    except ValueError:
        raise CliError(f"--now: expected an ISO datetime like 2026-11-20T12:00:00+03:00, got {args.now!r}") from None
    settings = load_settings(config.RULES_DIR / "crm.yaml")
    if args.portal_url is not None:
        try:
            settings = replace(settings, portal_url=portal_url(args.portal_url))
        except ValueError as exc:
            raise CliError(f"--portal-url: {str(exc).removeprefix('portal URL: ')}") from None
    _output_dir(args.out, "--out")
    if args.runs is not None:
        _output_dir(args.runs, "--runs")
    try:
        summary = run_audit(args.dir, args.out, _checker(args).classify_many, now=now, csv_dialect=args.csv_dialect,
                            settings=settings, runs_dir=args.runs)
    except AuditError as exc:
        raise CliError(str(exc)) from exc
    print("\n".join(summary.lines()))
    return 0


def cmd_serve(args) -> int:
    import uvicorn

    from .checker import CommentChecker
    from .service.app import create_app
    from .service.settings import Settings
    # --models-dir and --model, when given, win over CRMQC_MODELS_DIR and CRMQC_MODEL_NAME.
    given = {"models_dir": args.models_dir if args.models_dir_given else None, "model_name": args.model}
    settings = Settings(**{k: v for k, v in given.items() if v is not None})
    # Load here, not in the lifespan: a missing model or a broken rules file is then one clear line.
    checker = CommentChecker.load(models_dir=settings.models_dir, name=settings.model_name,
                                  rules_dir=settings.rules_dir, threshold=settings.threshold)
    uvicorn.run(create_app(settings, checker=checker), host=args.host, port=args.port, log_level="info")
    return 0


# --- the live Bitrix24 integration ------------------------------------------------------------------------

def _integration(args, need_portal: bool = True):
    """(settings, store, gateway) of the configured portal, or a CliError naming what is missing."""
    from .bitrix24.gateway import Gateway
    from .bitrix24.settings import Bitrix24Settings
    from .bitrix24.store import Store as IntegrationStore
    settings = Bitrix24Settings()
    if need_portal and not settings.webhook_url:
        raise CliError("the Bitrix24 integration is not configured: set CRMQC_B24_WEBHOOK_URL (and, to receive "
                       "events, CRMQC_B24_APPLICATION_TOKEN and CRMQC_B24_MEMBER_ID); see README, "
                       "\"Connect your Bitrix24\"")
    if settings.mode == "off" and args.b24_command in ("sync", "worker"):
        raise CliError("CRMQC_B24_MODE is off: set it to shadow (judge and record) or on (also write back)")
    store = IntegrationStore(settings.database_url)
    return settings, store, Gateway(settings) if settings.webhook_url else None


def _worker(args, settings, store, gateway):
    from .bitrix24.worker import Worker
    from .crm.settings import load_settings as load_crm_settings
    from .model.linear import ModelError
    from .service.hotswap import ModelSlot
    slot = ModelSlot(args.models_dir, config.RULES_DIR, fixed_name=args.model)
    slot.reload()
    seen = [time.monotonic()]

    def checker():
        if time.monotonic() - seen[0] > 30:  # a model promoted meanwhile goes into service
            seen[0] = time.monotonic()
            try:
                slot.check_current()
            except ModelError as exc:  # a broken new model leaves the old one in service
                print(f"crmqc: model reload failed, keeping {slot.checker.model_version}: {exc}", file=sys.stderr)
        return slot.checker

    return Worker(store, gateway, checker, load_crm_settings(config.RULES_DIR / "crm.yaml"), settings,
                  name=f"{socket.gethostname()}:{os.getpid()}")


def _gateway_errors(func):
    """A portal that refuses or cannot be reached is one line naming the method, not a traceback."""
    def wrapped(args):
        from .bitrix24.gateway import BitrixError
        from .bitrix24.store import StoreError
        try:
            return func(args)
        except BitrixError as exc:
            raise CliError(f"Bitrix24: {exc}") from None
        except StoreError as exc:
            raise CliError(str(exc)) from None
    return wrapped


@_gateway_errors
def cmd_b24_setup(args) -> int:
    from .bitrix24.setup import ensure_fields
    settings, _store, gateway = _integration(args)
    report = ensure_fields(gateway, settings)
    print(f"portal {settings.domain}: connected (portal time {report.portal_time}), mode {settings.mode}")
    for name in report.created:
        print(f"  created deal field {name}")
    for name in report.present:
        print(f"  deal field {name} already there")
    missing = [n for n, v in (("CRMQC_B24_APPLICATION_TOKEN", settings.application_token),
                              ("CRMQC_B24_MEMBER_ID", settings.member_id)) if not v]
    if missing:
        print(f"to receive events, also set {' and '.join(missing)}")
    return 0


@_gateway_errors
def cmd_b24_sync(args) -> int:
    from .bitrix24 import sweep
    settings, store, gateway = _integration(args)
    worker = _worker(args, settings, store, gateway)
    report = sweep.full(store, gateway, worker.judge_contact)
    print(f"read the portal in {report.seconds:.1f} s: queued {report.queued.get('deal', 0)} deals, "
          f"{report.queued.get('lead', 0)} leads; judged {report.contacts_judged} contacts")
    if args.no_process:
        return 0
    stats = worker.drain()
    print(f"judged {stats.judged}, skipped {stats.skipped}, failed {stats.failed}; "
          f"{stats.writes} writes {'sent' if settings.mode == 'on' else 'recorded (shadow: nothing sent)'}")
    for line in stats.errors[:10]:
        print(f"  failed: {line}", file=sys.stderr)
    return 0 if not stats.failed else EXIT_FAILED


@_gateway_errors
def cmd_b24_worker(args) -> int:
    import signal

    from .bitrix24.worker import Loop
    settings, store, gateway = _integration(args)
    loop = Loop(_worker(args, settings, store, gateway), poll_seconds=args.poll)
    if args.once:
        loop.sweep_if_due()
        stats = loop.worker.drain()
        print(f"judged {stats.judged}, skipped {stats.skipped}, failed {stats.failed}, writes {stats.writes}")
        return 0 if not stats.failed else EXIT_FAILED
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    print(f"crmqc: worker for {settings.domain} in {settings.mode} mode; Ctrl-C to stop", file=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        loop.run(lambda: bool(stopping))
    return 0


@_gateway_errors
def cmd_b24_status(args) -> int:
    settings, store, _gateway = _integration(args, need_portal=False)
    counts = store.inbox_counts()
    print(f"mode {settings.mode}; portal {settings.domain or 'not configured'}; store {store.dialect}")
    print(f"inbox: {counts['queued']} queued, {counts['failing']} failing"
          + (f", oldest {counts['oldest_age_seconds']} s" if counts["oldest_age_seconds"] is not None else ""))
    for row in store.inbox_errors(10):
        print(f"  {row['entity_type']} {row['entity_id']}: {row['attempts']} attempts, {row['last_error'][:200]}")
    for name, value in sorted(store.watermarks().items()):
        print(f"  {name}: {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crmqc", description="CRM comment quality checks.")
    parser.add_argument("--models-dir", type=Path, default=None, help="where models live (default: models/)")
    parser.add_argument("--model", default=None, help="model name (default: the one in models/CURRENT)")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="labelled data").add_subparsers(dest="data_command", required=True)
    data.add_parser("build", help="validate data/raw/*.csv and write the fixed train/test split") \
        .set_defaults(func=cmd_data_build)

    p = sub.add_parser("train", help="train a model on data/train.csv and save it with its card")
    p.add_argument("--name", default=config.DEFAULT_MODEL_NAME,
                   help="base name: the version saved is NAME-<UTC time> (default: %(default)s)")
    p.add_argument("--tune", action="store_true",
                   help="choose C and the threshold by 5-fold cross-validation on train (slow)")
    p.add_argument("--no-promote", action="store_true", help="do not point models/CURRENT at the new model")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="precision/recall/F1, per-category accuracy, confusion matrix")
    p.add_argument("--data", default=str(config.TEST_CSV), help="labelled CSV (default: data/test.csv)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("cv", help="validation by unseen business: leave each business out, F1 on it (train only)")
    p.add_argument("--data", default=str(config.TRAIN_CSV), help="labelled CSV (default: data/train.csv)")
    p.add_argument("--c", type=_in_range(float, 1e-3, 1e6), default=None, help="C of the heads (default: the model's)")
    p.add_argument("--clause-heads", action=argparse.BooleanOptionalAction, default=None,
                   help="train the clause heads beside the whole-text ones (default: as the model's defaults)")
    p.add_argument("--thresholds", type=_in_range(float, 0, 1), nargs="*", default=None,
                   help="thresholds to report (default: the model's)")
    p.add_argument("--blocks", nargs="*", choices=("grammemes", "navec"), default=[],
                   help="optional feature blocks beside TF-IDF (README, Quality); default none")
    p.add_argument("--clause-blocks", nargs="*", choices=("navec",), default=None,
                   help="optional blocks of the clause heads: navec, each clause's mean word vector "
                        "(default: the model's)")
    p.add_argument("--only", nargs="*", metavar="BUSINESS", default=None,
                   help="hold out only these businesses (e.g. real:freight hand:cars); default every one")
    p.add_argument("--contrast-weight", type=_in_range(float, 0, 100), default=None,
                   help="weight of the contrast rows cut by the span labels of data/spans (0: none; "
                        "default: the model's)")
    p.set_defaults(func=cmd_cv)

    p = sub.add_parser("score", help="score one comment, or a CSV file with a `text` column")
    p.add_argument("text", nargs="?", help="the comment")
    p.add_argument("--input", help="CSV with a `text` column")
    p.add_argument("--output", help="where to write the scored CSV")
    p.add_argument("--explain", action="store_true",
                   help="add the threshold in use, normalised text, lemmas, rule hits, top terms")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_score)

    parser.add_argument("--store", type=Path, default=None, help="labels database (default: var/labels.sqlite3)")
    pool = sub.add_parser("pool", help="the pool of comments to label").add_subparsers(dest="pool_command",
                                                                                         required=True)
    p = pool.add_parser("import", help="add comments from a CSV with a `text` column (duplicates skipped)")
    p.add_argument("file")
    p.set_defaults(func=cmd_pool_import)
    labels = sub.add_parser("labels", help="labels in the store").add_subparsers(dest="labels_command",
                                                                                 required=True)
    p = labels.add_parser("export", help="the latest label of each labelled comment, LABELLING.md format")
    p.add_argument("out")
    p.set_defaults(func=cmd_labels_export)
    p = sub.add_parser("agreement", help="Cohen's kappa per pair, Krippendorff's alpha, unsettled disagreements")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=_in_range(int, 0, 10**9), default=20,
                   help="disagreements listed of each kind, 0 for all (default: %(default)s)")
    p.add_argument("--settled", action="store_true",
                   help="also list the disagreements a reviewer has settled, with the final category")
    p.add_argument("--files", nargs=2, metavar=("FIRST.csv", "SECOND.csv"),
                   help="compare two labelled CSV files (matched by text) instead of the labels database")
    p.set_defaults(func=cmd_agreement)
    p = sub.add_parser("retrain", help="train a candidate on data/ + labels; promote it only if not worse")
    p.add_argument("--department", metavar="FILE.csv", help="a department's own labelled comments "
                   "(LABELLING.md format): a share is trained on, the rest measured, before and after")
    p.add_argument("--holdout", type=_in_range(float, 0.05, 0.95), default=0.3,
                   help="the share of --department kept to measure on (default 0.3)")
    p.set_defaults(func=cmd_retrain)
    p = sub.add_parser("suspects", help="labels the model contradicts with high confidence (out of fold)")
    p.add_argument("--confidence", type=_in_range(float, 0, 1), default=0.8,
                   help="how firmly (0..1) the score must contradict the label, measured from the threshold: "
                        "0.8 means at most a fifth of the way from 0 to the threshold for a positive, "
                        "four fifths of the way from the threshold to 1 for a negative (default: 0.8)")
    p.add_argument("--output", help="CSV to write (default: standard output)")
    p.set_defaults(func=cmd_suspects)

    p = sub.add_parser("audit", help="the CRM rules over a folder of Bitrix24 REST exports: CSV + HTML report")
    p.add_argument("dir", type=Path, help="folder with deals.json, activities.json, comments.json, contacts.json, "
                                          "leads.json (+ optional product_rows.json, deal_contacts.json, users.json, "
                                          "statuses.json, deal_fields.json, ...; README: Audit)")
    p.add_argument("--out", type=Path, default=config.ROOT / "var" / "audit", help="where to write the report")
    p.add_argument("--now", help="audit as of this ISO datetime (default: now)")
    p.add_argument("--csv-dialect", choices=("excel-ru", "comma"), default="excel-ru",
                   help="excel-ru: «;»-separated with decimal commas, opens in Russian Excel (default); comma: plain "
                        "CSV; both with a BOM")
    p.add_argument("--portal-url", help="the portal's address, e.g. https://example.bitrix24.ru: every deal, contact "
                                        "and lead becomes a link (default: portal.url in rules/crm.yaml)")
    p.add_argument("--runs", type=Path, help="where runs are kept and the previous one is read from "
                                             "(default: OUT/runs)")
    p.set_defaults(func=cmd_audit)

    b24 = sub.add_parser("bitrix24", help="the live Bitrix24 integration (README: Connect your Bitrix24)") \
        .add_subparsers(dest="b24_command", required=True)
    b24.add_parser("setup", help="check the webhook and create the deal fields results go into") \
        .set_defaults(func=cmd_b24_setup)
    p = b24.add_parser("sync", help="read every deal, open lead and contact, and judge them")
    p.add_argument("--no-process", action="store_true", help="only queue them for the worker")
    p.set_defaults(func=cmd_b24_sync)
    p = b24.add_parser("worker", help="judge what events and sweeps queue, write results back; runs until stopped")
    p.add_argument("--once", action="store_true", help="a due sweep and the inbox once, then exit")
    p.add_argument("--poll", type=_in_range(float, 0.05, 3600), default=2.0, help="seconds between looks when idle")
    p.set_defaults(func=cmd_b24_worker)
    b24.add_parser("status", help="inbox, failures and sweep watermarks").set_defaults(func=cmd_b24_status)

    p = sub.add_parser("serve", help="start the HTTP service")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_in_range(int, 0, 65535), default=8000)
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.models_dir_given = args.models_dir is not None
    args.models_dir = args.models_dir or config.MODELS_DIR
    from pydantic import ValidationError

    from .crm.settings import CrmSettingsError
    from .model.linear import ModelError
    from .qa.store import StoreError
    from .text.rules import RuleError
    from .training.dataset import DataError
    try:
        return args.func(args)
    except (CliError, CrmSettingsError, DataError, ModelError, RuleError, StoreError) as exc:
        print(f"crmqc: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValidationError as exc:  # settings from the environment
        prefix = "CRMQC_B24_" if exc.title == "Bitrix24Settings" else "CRMQC_"
        problems = "; ".join(f"{prefix}{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        print(f"crmqc: error: invalid settings: {problems}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # a file that cannot be read or written
        print(f"crmqc: error: {_os_error(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
