"""Leaderboards over incomplete grids: rank systems fairly when not every one ran every dataset.

A system is an embedder with its index and search setting. Three rankings, each honest about
what it compares:

- `mean_shared`: the metric averaged over the datasets every ranked system ran;
- `mean_rank`: per dataset, the systems that ran it ranked; each system's ranks averaged;
- `bt_strength`: a Bradley-Terry model fitted to per-query wins between systems, compared only
  where both ran the dataset and both scored the query, so a missing cell costs nothing.

Missing cells (not run, failed, or without a value) are shown as missing, never read as zero.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from harness.errors import HarnessError
from harness.figures import format_value, markdown_table
from harness.registry import did_you_mean
from harness.report.leaderboard import search_label
from harness.results import metric_columns

FloatArray = npt.NDArray[np.float64]

PRIOR = 1e-3
"""L2 penalty on log-strengths: keeps the fit finite when a system wins every comparison, and
far too weak to move strengths fitted from the hundreds of per-query comparisons of a dataset."""

MISSING = "—"


@dataclass(frozen=True)
class FairLeaderboard:
    """The rankings (`table`, strongest first), the systems x datasets scores behind them
    (`matrix`, NaN where missing), what each cell is (`status`: ok, failed, not run,
    no value), the datasets every ranked system ran, and how each column was computed."""

    metric: str
    table: pd.DataFrame
    matrix: pd.DataFrame
    status: pd.DataFrame
    shared_datasets: tuple[str, ...]
    note: str


def system_labels(rows: pd.DataFrame) -> pd.Series:
    """One label per row: 'embedder', then ' · index' and ' search settings' when present."""
    search_column = "search_params" if "search_params" in rows else "search"
    labels = []
    for embedder, index, search in zip(
        rows["embedder"],
        rows["index"] if "index" in rows else [None] * len(rows),
        rows[search_column] if search_column in rows else [None] * len(rows),
        strict=True,
    ):
        label = str(embedder)
        if _present(index):
            label += f" · {index}"
        if _present(search):
            text = str(search)
            settings = search_label(text) if text.lstrip().startswith("{") else text
            label += f" {settings}" if settings != "-" else ""
        labels.append(label)
    return pd.Series(labels, index=rows.index, name="system", dtype=object)


def score_matrix(rows: pd.DataFrame, metric: str, system_col: str | None = None) -> pd.DataFrame:
    """Systems x datasets of `metric`; NaN where the cell failed, has no value or never ran.

    `system_col` names a column to group by instead (`model`, `embedder`); by default a system
    is the label of `system_labels`. Several rows of one system and dataset (insertion orders)
    are averaged; of rows sharing a `cell_id`, the last (newest) is kept.
    """
    return _cells(rows, metric, system_col)[0]


def cell_status(rows: pd.DataFrame, metric: str, system_col: str | None = None) -> pd.DataFrame:
    """Systems x datasets: 'ok', 'failed', 'no value' (ok but the metric is NaN), 'not run'."""
    return _cells(rows, metric, system_col)[1]


def pairwise_wins(
    rows: pd.DataFrame,
    per_query: pd.DataFrame,
    metric: str,
    system_col: str | None = None,
) -> pd.DataFrame:
    """Systems x systems: how often the row system beat the column system on one query.

    For each dataset, each pair of systems that both ran it (status ok), and each query both
    have a value of `metric` for: a higher value is a win, equal values half a win to each.
    Per-query rows join to `rows` by `cell_id` (and `run_id` when both carry it).
    """
    scores = _per_query_scores(rows, per_query, metric, system_col)
    systems = list(score_matrix(rows, metric, system_col).index)
    position = {s: i for i, s in enumerate(systems)}
    wins = np.zeros((len(systems), len(systems)))
    for _, of_dataset in scores.groupby("dataset", sort=True):
        table = of_dataset.pivot(index="query_id", columns="system", values="value")
        values = table.to_numpy(dtype=float)
        where = [position[s] for s in table.columns]
        for a in range(values.shape[1]):
            for b in range(a + 1, values.shape[1]):
                x, y = values[:, a], values[:, b]
                both = ~np.isnan(x) & ~np.isnan(y)
                ties = 0.5 * float(np.sum(both & (x == y)))
                wins[where[a], where[b]] += float(np.sum(both & (x > y))) + ties
                wins[where[b], where[a]] += float(np.sum(both & (y > x))) + ties
    index = pd.Index(systems, name="system")
    return pd.DataFrame(wins, index=index, columns=pd.Index(systems, name="over"))


def bradley_terry(
    wins: FloatArray | pd.DataFrame,
    prior: float = PRIOR,
    tol: float = 1e-10,
    max_iter: int = 500,
) -> FloatArray:
    """Bradley-Terry strengths from a win matrix (`wins[i, j]`: times i beat j; halves allowed).

    Maximises sum_ij wins[i, j] * log(s_i / (s_i + s_j)) - prior/2 * sum_i log(s_i)^2 by
    damped Newton steps on the log-strengths. The objective is strictly convex for prior > 0,
    so the fit is unique, deterministic and finite even when a system wins every comparison.
    Strengths are normalised to geometric mean 1: P(i beats j) = s_i / (s_i + s_j).
    """
    w = np.array(wins, dtype=float)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"wins must be a square matrix, got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("wins must be finite and non-negative")
    if not prior > 0:
        raise ValueError(f"prior must be positive (got {prior}): without it the fit can diverge")
    n = w.shape[0]
    if n == 0:
        return np.zeros(0)
    np.fill_diagonal(w, 0.0)
    games = w + w.T
    theta = np.zeros(n)
    objective = _bt_objective(w, theta, prior)
    for _ in range(max_iter):
        p = _sigmoid(theta[:, None] - theta[None, :])  # p[i, j] = P(i beats j)
        grad = -(w - games * p).sum(axis=1) + prior * theta
        curvature = games * p * (1.0 - p)
        hessian = -curvature
        hessian[np.diag_indices(n)] = curvature.sum(axis=1) + prior
        # The likelihood ignores a common shift of the log-strengths; with theta centred the
        # gradient is orthogonal to that direction, so adding it to the Hessian leaves the
        # Newton step unchanged while keeping the solve well conditioned for a tiny prior.
        step = -np.linalg.solve(hessian + np.ones((n, n)) / n, grad)
        size = 1.0
        slope = float(grad @ step)
        while True:
            candidate = theta + size * step
            value = _bt_objective(w, candidate, prior)
            if value <= objective + 1e-4 * size * slope or size < 1e-12:
                break
            size /= 2
        theta = candidate - candidate.mean()
        objective = _bt_objective(w, theta, prior)
        if float(np.max(np.abs(size * step))) < tol:
            break
    strengths: FloatArray = np.exp(theta - theta.mean())
    return strengths


def fair_leaderboard(
    rows: pd.DataFrame,
    per_query: pd.DataFrame,
    metric: str,
    system_col: str | None = None,
    prior: float = PRIOR,
) -> FairLeaderboard:
    """One row per system, strongest (Bradley-Terry) first.

    Columns: system, datasets_run, missing (the datasets it lacks, failed ones marked),
    mean_shared, mean_rank (over its datasets_run), bt_strength, bt_rank, bt_comparisons
    (per-query comparisons it took part in). Systems with no result at all are listed last.
    """
    matrix, status = _cells(rows, metric, system_col)
    ran = matrix.notna()
    ranked = [s for s in matrix.index if bool(ran.loc[s].any())]
    shared = tuple(str(d) for d in matrix.columns if ranked and bool(ran.loc[ranked, d].all()))
    mean_shared = (
        matrix.loc[:, list(shared)].mean(axis=1)
        if shared
        else pd.Series(math.nan, index=matrix.index)
    )
    mean_rank = matrix.rank(axis=0, ascending=False, method="average").mean(axis=1)

    wins = pairwise_wins(rows, per_query, metric, system_col)
    comparisons = (wins + wins.T).sum(axis=1)
    compared = [s for s in wins.index if comparisons[s] > 0]
    strength = pd.Series(math.nan, index=matrix.index, dtype=float)
    if compared:
        fitted = bradley_terry(wins.loc[compared, compared].to_numpy(), prior=prior)
        strength[compared] = fitted

    table = pd.DataFrame(
        {
            "system": matrix.index,
            "datasets_run": ran.sum(axis=1).astype(int).to_numpy(),
            "missing": [_missing(status.loc[s]) for s in matrix.index],
            "mean_shared": mean_shared.to_numpy(dtype=float),
            "mean_rank": mean_rank.to_numpy(dtype=float),
            "bt_strength": strength.to_numpy(dtype=float),
            "bt_comparisons": comparisons.reindex(matrix.index).fillna(0.0).to_numpy(float),
        }
    )
    table = table.sort_values(
        ["bt_strength", "mean_rank", "system"],
        ascending=[False, True, True],
        na_position="last",
        kind="stable",
    ).reset_index(drop=True)
    table["bt_rank"] = table["bt_strength"].rank(ascending=False, method="min").astype("Int64")
    columns = ["system", "datasets_run", "missing", "mean_shared", "mean_rank"]
    table = table[[*columns, "bt_strength", "bt_rank", "bt_comparisons"]]
    order = list(table["system"])
    note = fair_method_note(
        metric,
        shared,
        prior=prior,
        groups=_components(wins.loc[compared, compared]) if compared else [],
        unranked=[s for s in order if s not in compared],
        folds={} if system_col is None else folded(rows, system_col),
        system_col=system_col,
    )
    return FairLeaderboard(
        metric=metric,
        table=table,
        matrix=matrix.loc[order],
        status=status.loc[order],
        shared_datasets=shared,
        note=note,
    )


def fair_method_note(
    metric: str,
    shared_datasets: tuple[str, ...],
    prior: float = PRIOR,
    groups: list[list[str]] | None = None,
    unranked: list[str] | None = None,
    folds: dict[str, list[str]] | None = None,
    system_col: str | None = None,
) -> str:
    """How each column of the fair leaderboard is computed, a line each, for a report."""
    if shared_datasets:
        shared = f"the {len(shared_datasets)} dataset(s) every ranked system ran: " + ", ".join(
            shared_datasets
        )
    else:
        shared = "the datasets every ranked system ran: there are none, so it is left empty"
    lines = [
        f"Missing cells (not run, failed, or no value) are shown as {MISSING}; "
        "none is counted as 0.",
        f"mean_shared: mean {metric} over {shared}.",
        f"mean_rank: on each dataset the systems that ran it are ranked by {metric} "
        "(1 = best, ties share the average rank); a system's ranks are averaged over the "
        "datasets it ran (datasets_run). A dataset few systems ran gives easier ranks.",
        f"bt_strength: Bradley-Terry strengths fitted to per-query wins: on each dataset, each "
        f"pair of systems that both ran it, each query both scored; the higher {metric} wins, a "
        "tie is half a win to each. Pairs are compared only where both exist, so a missing cell "
        "costs nothing. P(a beats b) = s_a / (s_a + s_b); geometric mean strength 1; fitted by "
        f"Newton steps on log-strengths with an L2 prior of {prior:g}; datasets weigh by their "
        "number of queries. bt_rank: 1 = strongest.",
    ]
    if groups and len(groups) > 1:
        parts = "; ".join("{" + ", ".join(g) + "}" for g in groups)
        lines.append(
            f"No system in one of these groups shares a dataset with another group: {parts}. "
            "Strengths compare within a group, not across."
        )
    if unranked:
        lines.append("No per-query comparison, so no strength: " + ", ".join(unranked) + ".")
    if system_col is not None:
        lines.append(
            f"--by {system_col}: a row is every system with that {system_col}; on each dataset "
            "its systems' values are averaged (their per-query values too)."
        )
    for value, systems in (folds or {}).items():
        lines.append(f"{value} averages {len(systems)} systems: " + "; ".join(systems) + ".")
    return "\n".join(lines)


def to_markdown(board: FairLeaderboard) -> str:
    """The systems x datasets scores (missing shown as —, failed marked), the rankings, and how
    they were computed."""
    matrix = pd.DataFrame({"system": [str(s) for s in board.matrix.index]})
    for dataset in board.matrix.columns:
        matrix[str(dataset)] = [
            format_value(board.metric, float(value))
            if not math.isnan(value)
            else (MISSING if state == "not run" else f"{MISSING} {state}")
            for value, state in zip(
                board.matrix[dataset].to_numpy(dtype=float), board.status[dataset], strict=True
            )
        ]
    shared = ", ".join(board.shared_datasets) or "none"
    headers = {
        "system": "system",
        "datasets_run": "datasets run",
        "missing": "missing",
        "mean_shared": f"mean over shared ({shared})",
        "mean_rank": "mean rank",
        "bt_strength": "BT strength",
        "bt_rank": "BT rank",
        "bt_comparisons": "BT comparisons",
    }
    rankings = pd.DataFrame(
        {
            title: [ranking_text(column, value) for value in board.table[column]]
            for column, title in headers.items()
        }
    )
    title = f"{board.metric} by system and dataset ({MISSING}: not run, {MISSING} failed: failed)"
    notes = "".join(f"- {line}\n" for line in board.note.splitlines())
    return f"{title}\n\n{markdown_table(matrix)}\nRankings\n\n{markdown_table(rankings)}\n{notes}"


def _cells(
    rows: pd.DataFrame, metric: str, system_col: str | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if metric not in rows:
        measured = metric_columns(rows) + [c for c in rows.columns if c.startswith("ann_recall@")]
        hint = did_you_mean(_spelled(metric), measured)
        raise HarnessError(
            f"--metric {metric}: not a metric of these results.{hint} Measured: "
            f"{', '.join(measured) or 'none'}"
        )
    frame = rows.drop_duplicates("cell_id", keep="last") if "cell_id" in rows else rows
    frame = pd.DataFrame(
        {
            "system": _systems(frame, system_col).to_numpy(),
            "dataset": frame["dataset"].astype(str).to_numpy(),
            "ok": (frame["status"] == "ok").to_numpy(dtype=bool),
            "value": pd.to_numeric(frame[metric], errors="coerce").to_numpy(dtype=float),
        }
    )
    frame.loc[~frame["ok"], "value"] = math.nan
    systems = sorted(frame["system"].unique())
    datasets = sorted(frame["dataset"].unique())
    grouped = frame.groupby(["system", "dataset"], sort=True)
    matrix = grouped["value"].mean().unstack("dataset").reindex(index=systems, columns=datasets)
    matrix = matrix.astype(float)
    matrix.index.name, matrix.columns.name = "system", "dataset"
    status = pd.DataFrame("not run", index=matrix.index, columns=matrix.columns, dtype=object)
    for (system, dataset), cell in grouped:
        if cell["value"].notna().any():
            status.loc[system, dataset] = "ok"
        else:
            status.loc[system, dataset] = "no value" if cell["ok"].any() else "failed"
    return matrix, status


CONFIGURATION = ("model", "embedder_params", "index_kind", "build_params", "k")
"""Columns besides the label's that determine a system's numbers: two rows with one label but
different values here (an index built with M 16 and with M 4) are different systems."""


def distinct_systems(rows: pd.DataFrame) -> pd.Series:
    """`system_labels`, with what tells apart rows that share a label but not a configuration
    appended: 'minilm · hnsw efSearch=64 (M=4)'."""
    labels = system_labels(rows)
    columns = [c for c in CONFIGURATION if c in rows]
    if not columns:
        return labels
    configs = pd.DataFrame({c: rows[c].map(_normalised) for c in columns}, index=rows.index)
    out = labels.copy()
    for label in labels.unique():
        mine = configs[labels == label]
        if len(mine.drop_duplicates()) < 2:
            continue
        for position, config in mine.iterrows():
            out[position] = f"{label} ({_difference(config, mine)})"
    return out


def _difference(config: pd.Series, others: pd.DataFrame) -> str:
    """What sets `config` apart among `others`: the settings whose values differ, as k=v."""
    parts = []
    for column in others.columns:
        if others[column].nunique() < 2:
            continue
        mine, theirs = _settings(config[column]), [_settings(v) for v in others[column]]
        if mine is None or any(t is None for t in theirs):
            parts.append(f"{column}={config[column]}")
            continue
        keys = sorted({k for t in theirs if t is not None for k in t} | set(mine))
        parts += [
            f"{k}={mine.get(k, MISSING)}"
            for k in keys
            if len({json.dumps(t.get(k) if t else None, default=str) for t in theirs}) > 1
        ]
    return ", ".join(parts)


INCIDENTAL = frozenset({"device", "batch_size", "model_source"})
"""Recorded settings that do not change a system's quality figures."""


def _normalised(value: object) -> str:
    """A configuration value as comparable text: JSON settings sorted, incidental ones dropped."""
    settings = _settings(str(value))
    if settings is None:
        return "" if not _present(value) else str(value)
    kept = {k: v for k, v in settings.items() if k not in INCIDENTAL}
    return json.dumps(kept, sort_keys=True, default=str)


def _settings(text: str) -> dict[str, object] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def folded(rows: pd.DataFrame, system_col: str) -> dict[str, list[str]]:
    """For `--by column`: each value's distinct systems (configurations) that it averages."""
    frame = rows.drop_duplicates("cell_id", keep="last") if "cell_id" in rows else rows
    systems = distinct_systems(frame)
    groups = pd.DataFrame({"by": frame[system_col].astype(str), "system": systems})
    return {
        str(value): sorted(group["system"].unique())
        for value, group in groups.groupby("by", sort=True)
        if group["system"].nunique() > 1
    }


_ALIASES = {"MAP": "AP", "MRR": "RR", "RECALL": "R", "NDCG": "nDCG", "PRECISION": "P"}
"""Common names of metrics and ir-measures' spelling of them."""


def _spelled(metric: str) -> str:
    """`metric` with a common name put as ir-measures spells it: MAP@100 -> AP@100."""
    base, at, cutoff = metric.partition("@")
    return _ALIASES.get(base.upper(), base) + at + cutoff


def _systems(rows: pd.DataFrame, system_col: str | None) -> pd.Series:
    if system_col is None:
        return distinct_systems(rows)
    if system_col not in rows:
        hint = did_you_mean(system_col, [str(c) for c in rows.columns])
        raise HarnessError(
            f"--by {system_col}: no such column in the results.{hint} e.g. model, embedder"
        )
    return rows[system_col].astype(str)


def _per_query_scores(
    rows: pd.DataFrame, per_query: pd.DataFrame, metric: str, system_col: str | None
) -> pd.DataFrame:
    """dataset, system, query_id, value: one value per query of each ok cell (replicates
    averaged)."""
    columns = ["dataset", "system", "query_id", "value"]
    frame = rows.drop_duplicates("cell_id", keep="last") if "cell_id" in rows else rows
    ok = frame[frame["status"] == "ok"]
    if ok.empty or per_query.empty:
        return pd.DataFrame(columns=columns)
    keys = ["run_id", "cell_id"] if "run_id" in ok and "run_id" in per_query else ["cell_id"]
    cells = ok[keys].copy()
    cells["dataset"] = ok["dataset"].astype(str)
    cells["system"] = _systems(ok, system_col)
    values = per_query.loc[per_query["measure"] == metric, [*keys, "query_id", "value"]]
    merged = values.merge(cells, on=keys, how="inner")
    merged["value"] = pd.to_numeric(merged["value"], errors="coerce")
    merged["query_id"] = merged["query_id"].astype(str)
    merged = merged.dropna(subset=["value"])
    grouped = merged.groupby(["dataset", "system", "query_id"], sort=True)["value"].mean()
    return grouped.reset_index()[columns]


def _bt_objective(wins: FloatArray, theta: FloatArray, prior: float) -> float:
    """Negative log-likelihood plus the L2 prior; -log sigmoid(x) = log(1 + exp(-x))."""
    diff = theta[:, None] - theta[None, :]
    return float(np.sum(wins * np.logaddexp(0.0, -diff)) + 0.5 * prior * float(theta @ theta))


def _sigmoid(x: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)), dtype=float)


def _components(wins: pd.DataFrame) -> list[list[str]]:
    """Groups of systems linked by at least one comparison, each sorted, largest first."""
    systems = [str(s) for s in wins.index]
    linked = (wins.to_numpy() + wins.to_numpy().T) > 0
    group = list(range(len(systems)))

    def root(i: int) -> int:
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    for i, j in zip(*np.nonzero(linked), strict=True):
        group[root(int(i))] = root(int(j))
    members: dict[int, list[str]] = {}
    for i, system in enumerate(systems):
        members.setdefault(root(i), []).append(system)
    return sorted((sorted(m) for m in members.values()), key=lambda m: (-len(m), m))


def _missing(status: pd.Series) -> str:
    lacking = [
        str(dataset) if state == "not run" else f"{dataset} ({state})"
        for dataset, state in status.items()
        if state != "ok"
    ]
    return ", ".join(lacking)


def _present(value: object) -> bool:
    if value is None or value is pd.NA:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return str(value) not in ("", "-")


def ranking_text(column: str, value: object) -> str:
    """A value of the rankings table as printed."""
    if column == "missing":
        return str(value) or "-"
    if value is None or value is pd.NA:
        return MISSING
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return MISSING
        if column == "bt_comparisons":
            return f"{number:g}"
        if column == "mean_rank":
            return f"{number:.2f}"
        if column == "bt_strength":
            return f"{number:#.3g}"
        return format_value(column, number)
    return str(value)
