"""Search commands: `casesearch worker`, `casesearch reindex`, `casesearch eval search`."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.progress import (
    Progress,
)

from search_api.cli.common import (
    advance_by_phase,
    console,
    eval_group,
    fail,
    progress_bar,
    settings_or_exit,
)

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command()(worker)
    app.command()(reindex)
    eval_group(app).command("search")(eval_search)


def _progress() -> Progress:
    return progress_bar(14)


def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Celery worker processes")] = 2,
    loglevel: Annotated[str, typer.Option(help="Celery log level")] = "INFO",
    interval: Annotated[float, typer.Option(min=0.1, help="seconds between outbox polls")]
    = 1.0,
) -> None:
    """Run the background worker: drains the outbox into OpenSearch (a polling loop, with
    backoff while OpenSearch is down) and, with a broker, serves the Celery tasks."""
    settings = settings_or_exit()
    from workers.outbox import OutboxDrainer

    drainer = OutboxDrainer(settings, interval=interval)
    drainer.start()
    console.print(f"outbox drainer running (every {interval:g}s, index prefix "
                  f"{settings.index_prefix})")
    try:
        if settings.broker_url is None:
            console.print("no CASESEARCH_BROKER_URL: running the outbox loop only "
                          "(Ctrl+C to stop)")
            while True:
                time.sleep(3600)
        from workers.celery_app import celery_app

        celery_app.worker_main(["worker", "--queues", "casesearch", "--concurrency",
                                str(concurrency), "--loglevel", loglevel,
                                "--without-gossip", "--without-mingle"])
    except KeyboardInterrupt:
        pass
    finally:
        drainer.stop()


def reindex(
    chunk_size: Annotated[int, typer.Option(min=10, max=5000, help="documents per bulk")]
    = 500,
) -> None:
    """Rebuild the search indices from the SQL store with zero downtime: build new indices,
    catch up with changes made meanwhile, swap the aliases atomically, drop the old ones."""
    settings = settings_or_exit()
    from opensearchpy.exceptions import ConnectionError as OSConnectionError

    from indexer.client import make_client
    from indexer.lifecycle import reindex as run_reindex
    from schemas.db import engine_for

    client = make_client(settings.resolved_opensearch_url, max(settings.opensearch_timeout, 60))
    engine = engine_for(settings.resolved_database_url)
    started = time.perf_counter()
    with _progress() as progress:
        try:
            result = run_reindex(client, engine, settings.index_prefix,
                                 progress=advance_by_phase(progress),
                                 chunk_size=chunk_size)
        except OSConnectionError:
            fail(f"OpenSearch at {settings.resolved_opensearch_url} is not answering; "
                 "nothing was changed")
    elapsed = time.perf_counter() - started
    console.print(f"reindexed {result.persons} person records and {result.notes} case notes "
                  f"in {elapsed:.1f}s ({result.caught_up} changes caught up); aliases now "
                  f"point at {', '.join(result.new_indices.values())}")
    if result.bulk.errors:
        console.print(f"[yellow]{len(result.bulk.errors)} documents were rejected[/yellow]")


def eval_search(
    dataset: Annotated[str, typer.Option(help="febrl3 or synthetic")] = "febrl3",
    people: Annotated[int, typer.Option(min=10, help="synthetic: true people to generate")]
    = 2000,
    seed: Annotated[int, typer.Option(help="synthetic: generator seed")] = 11,
    max_queries: Annotated[int, typer.Option(min=1, help="synthetic: queries to run")] = 2000,
    untrained: Annotated[bool, typer.Option(
        "--untrained", help="re-score with the model's hand-set defaults instead of "
        "parameters trained (without labels) on the indexed records")] = False,
) -> None:
    """Recall@1, recall@10 and MRR of casesearch and of a fuzzy multi_match baseline, on a
    throwaway index set (prefix eval-...) on the configured cluster."""
    if dataset not in ("febrl3", "synthetic"):
        fail("--dataset: use febrl3 or synthetic", 2)
    settings = settings_or_exit()
    from opensearchpy.exceptions import ConnectionError as OSConnectionError

    from search_api.search.evaluation import evaluate

    with _progress() as progress:
        try:
            report = evaluate(settings, dataset, people=people, seed=seed,
                              max_queries=max_queries, progress=advance_by_phase(progress),
                              train_model=not untrained)
        except OSConnectionError:
            fail(f"OpenSearch at {settings.resolved_opensearch_url} is not answering")
    ours, base = report.ours, report.baseline
    console.print(f"{report.dataset}: {report.records} records indexed in "
                  f"{report.index_seconds:.1f}s, {report.queries} queries, model parameters: "
                  f"{report.params}")
    for m in (ours, base):
        per_query = 1000 * m.seconds / max(1, m.queries)
        console.print(f"  {m.name:<11} recall@1={m.recall(1):.4f} recall@10={m.recall(10):.4f} "
                      f"mrr={m.mrr:.4f} ({per_query:.1f} ms/query)")
    for kind, (o, b) in report.by_kind.items():
        console.print(f"  {kind:<15} n={o.queries:<5} recall@10={o.recall(10):.4f} "
                      f"mrr={o.mrr:.4f} baseline_recall@10={b.recall(10):.4f}",
                      markup=False)
    typer.echo(f"recall@10={ours.recall(10):.4f} mrr={ours.mrr:.4f} "
               f"baseline_recall@10={base.recall(10):.4f} baseline_mrr={base.mrr:.4f}")
