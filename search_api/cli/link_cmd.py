"""Linkage commands: `casesearch link --full`, `casesearch link train`,
`casesearch link records ID...`, `casesearch eval linkage --dataset febrl3|febrl4`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import (
    Progress,
    TaskID,
)

from search_api.cli.common import (
    console,
    eval_group,
    fail,
    progress_bar,
    settings_or_exit,
)

__all__ = ["register"]

link_app = typer.Typer(add_completion=False, invoke_without_command=True,
                       help="Record linkage: re-link, train the model, link given records.")


def register(app: typer.Typer) -> None:
    app.add_typer(link_app, name="link")
    eval_group(app).command("linkage")(eval_linkage)


class _Bar:
    """Adapts rich Progress to linkage's progress(stage, done, total) callbacks."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total or None)
        self.progress.update(self.tasks[stage], completed=done, total=total or None)


def _progress() -> Progress:
    return progress_bar(10)


@link_app.callback()
def link(
    ctx: typer.Context,
    full: Annotated[bool, typer.Option("--full", help="re-link every record (keeps current "
                                       "identities whole and obeys every human decision)")]
    = False,
) -> None:
    """Re-link records. Without a sub-command, --full is required."""
    if ctx.invoked_subcommand is not None:
        return
    if not full:
        console.print(ctx.get_help())
        raise typer.Exit(2)
    settings = settings_or_exit()
    from linkage.incremental import link_full

    with _progress() as progress:
        outcome = link_full(settings, progress=_Bar(progress))
    console.print(f"re-linked: {outcome.merges} merges, {outcome.reviews_queued} pairs queued "
                  f"for review, {outcome.refused} refused by human decisions")


@link_app.command("train")
def train(
    sample: Annotated[int, typer.Option(min=1000, help="random pairs for u estimation")]
    = 200_000,
) -> None:
    """Train the model on the stored records without labels (u by random sampling, m by EM,
    name frequencies) and save <data_dir>/linkage_params.json."""
    settings = settings_or_exit()
    from linkage.incremental import train_from_store

    try:
        with _progress() as progress:
            params = train_from_store(settings, u_sample_size=sample, progress=_Bar(progress))
    except ValueError as exc:
        fail(str(exc))
    t = params.training
    console.print(f"trained on {t.get('records')} records, {t.get('candidate_pairs')} candidate "
                  f"pairs; EM {t.get('em_iterations')} iterations "
                  f"({'converged' if t.get('em_converged') else 'not converged'}); "
                  f"saved {settings.data_dir / 'linkage_params.json'}")


@link_app.command("records")
def records(ids: Annotated[list[int], typer.Argument(help="record ids")]) -> None:
    """Link the given records now (what the worker does after indexing them)."""
    settings = settings_or_exit()
    from linkage.incremental import link_records

    outcome = link_records(settings, ids)
    console.print(f"{outcome.merges} merges, {outcome.reviews_queued} pairs queued for review")


def eval_linkage(
    dataset: Annotated[str, typer.Option(help="febrl3 (deduplication), febrl4 (two files) or "
                                         "synthetic (the generator's multi-agency data)")]
    = "febrl3",
    no_identifiers: Annotated[bool, typer.Option("--no-identifiers",
                                                 help="leave identifiers out (FEBRL: "
                                                 "soc_sec_id)")] = False,
    threshold: Annotated[float | None, typer.Option(
        help="match probability to link at (both systems); default link_auto_threshold")]
    = None,
    splink: Annotated[bool, typer.Option(help="also run Splink (DuckDB; FEBRL only)")] = True,
    people: Annotated[int, typer.Option(min=50, max=200_000,
                                        help="synthetic: people to generate")] = 3000,
    seed: Annotated[int, typer.Option(help="synthetic: generator seed")] = 2004,
) -> None:
    """Train (no labels) and link FEBRL with casesearch and with Splink; print pairwise
    precision/recall/F1, B-cubed F1 and wall time of both. The last line is
    `f1=<x> splink_f1=<y> seconds=<s> splink_seconds=<t>`. On the synthetic data (households,
    twins and siblings sharing surnames and addresses) it also prints wrong_clusters: the
    identities that hold records of more than one true person."""
    if dataset not in ("febrl3", "febrl4", "synthetic"):
        fail("--dataset must be febrl3, febrl4 or synthetic")
    settings = settings_or_exit()
    cut = threshold if threshold is not None else settings.link_auto_threshold
    from linkage.evaluation import load_dataset, run_casesearch, run_splink

    ids = not no_identifiers
    with _progress() as progress:
        data = load_dataset(dataset, identifiers=ids, people=people, seed=seed)
        ours, policy = run_casesearch(data, threshold=cut,
                                      review_threshold=settings.link_review_threshold,
                                      cluster_cap=settings.link_cluster_cap,
                                      progress=_Bar(progress))
    theirs = (run_splink(dataset, identifiers=ids, threshold=cut)
              if splink and dataset != "synthetic" else None)
    typer.echo(f"dataset={data.name} identifiers={'yes' if ids else 'no'} threshold={cut:g} "
               f"records={len(data.records)}")
    for r in (ours, policy, theirs):
        if r is None:
            continue
        m = r.metrics
        extra = "".join(f" {k}={r.details[k]}" for k in ("review_pairs", "wrong_clusters")
                        if k in r.details)
        typer.echo(f"{r.system:<18} precision={m.precision:.4f} recall={m.recall:.4f} "
                   f"f1={m.f1:.4f} bcubed_f1={m.bcubed_f1:.4f} seconds={r.seconds:.1f}{extra}")
    typer.echo("(casesearch = the model clustered like Splink, for a like-for-like comparison; "
               "casesearch-policy adds the safety rules, whose flagged pairs wait for review)")
    typer.echo(f"f1={ours.metrics.f1:.4f} "
               f"splink_f1={theirs.metrics.f1 if theirs else float('nan'):.4f} "
               f"seconds={ours.seconds:.1f} "
               f"splink_seconds={theirs.seconds if theirs else float('nan'):.1f}")
