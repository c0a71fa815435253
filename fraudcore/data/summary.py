"""A short, printable summary of a batch of transactions."""

from __future__ import annotations

import pandas as pd

from fraudcore.schema import LABEL


def daily_summary(transactions: pd.DataFrame) -> pd.DataFrame:
    """Rows, frauds and fraud rate per day."""
    by_day = transactions[LABEL].astype("int64").groupby(transactions["TX_DATETIME"].dt.date)
    summary = pd.DataFrame({"rows": by_day.size(), "frauds": by_day.sum()})
    summary["fraud_rate_%"] = (100 * summary["frauds"] / summary["rows"]).round(2)
    summary.index.name = "date"
    return summary


def format_summary(transactions: pd.DataFrame, max_days: int = 10) -> str:
    """Totals and the per-day table (first and last days when there are many)."""
    summary = daily_summary(transactions)
    total, frauds = len(transactions), int(transactions[LABEL].sum())
    shown = (
        summary
        if len(summary) <= max_days
        else pd.concat([summary.head(max_days // 2), summary.tail(max_days // 2)])
    )
    lines = [
        f"{total:,} transactions over {len(summary)} days "
        f"({summary.index.min()} .. {summary.index.max()}), {frauds:,} frauds, "
        f"fraud rate {100 * frauds / max(total, 1):.2f} %, "
        f"{transactions['CUSTOMER_ID'].nunique():,} customers, "
        f"{transactions['TERMINAL_ID'].nunique():,} terminals",
        shown.to_string(),
    ]
    if len(summary) > max_days:
        lines.append(f"... ({len(summary) - max_days} more days)")
    return "\n".join(lines)
