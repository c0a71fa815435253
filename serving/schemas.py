"""Request and response models of the real-time service (validated by pydantic: a bad field is a 400
that names it)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TransactionRequest(BaseModel):
    """One card transaction to score."""

    model_config = ConfigDict(extra="forbid")

    transaction_id: int = Field(ge=0, strict=True)
    customer_id: int = Field(ge=0, strict=True)
    terminal_id: int = Field(ge=0, strict=True)
    amount: float = Field(ge=0, strict=True, allow_inf_nan=False, description="In the card's currency.")
    timestamp: dt.datetime = Field(description="ISO 8601; without a time zone it is UTC.")

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        """Naive UTC, the platform's convention."""
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


class Prediction(BaseModel):
    """The fraud score of one transaction and what it was computed with."""

    transaction_id: int
    fraud_probability: float
    decision: Literal["fraud", "genuine"]
    threshold: float
    model_name: str
    model_version: str
    new_customer: bool = Field(description="No online state: scored with a new customer's defaults.")
    new_terminal: bool = Field(description="No online state: scored with a new terminal's defaults.")
    customer_state_age_seconds: float | None = Field(
        description="Request time minus when the customer's online state was written (None: no state)."
    )
    terminal_state_age_seconds: float | None
