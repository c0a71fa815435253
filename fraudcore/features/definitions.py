"""Names and parameters of every feature: the one place they are defined."""

from __future__ import annotations

#: Fraud labels reach the system this many days after the transaction (handbook assumption).
LABEL_DELAY_DAYS = 7
#: Look-back windows, in days, of the customer and terminal aggregates.
WINDOWS_DAYS = (1, 7, 30)
#: Windows of the customer's amount spread (standard deviation) and of its largest amount.
STD_WINDOWS_DAYS = (7, 30)
MAX_WINDOWS_DAYS = (1, 7)
#: How far back a feature job must read raw transactions to fill every window of a row.
LOOKBACK_DAYS = max(WINDOWS_DAYS) + LABEL_DELAY_DAYS
#: A stored state older than this describes an inactive entity: lookups treat it as absent.
FEATURE_TTL_DAYS = 14

CUSTOMER_KEY = "CUSTOMER_ID"
TERMINAL_KEY = "TERMINAL_ID"
EVENT_TIMESTAMP = "event_timestamp"

#: Customer spending, as stored (the model reads some of them through request features).
CUSTOMER_FEATURES = (
    [f"customer_nb_tx_{w}d" for w in WINDOWS_DAYS]
    + [f"customer_mean_amount_{w}d" for w in WINDOWS_DAYS]
    + [f"customer_std_amount_{w}d" for w in STD_WINDOWS_DAYS]
    + [f"customer_max_amount_{w}d" for w in MAX_WINDOWS_DAYS]
)
TERMINAL_FEATURES = [f"terminal_nb_tx_{w}d" for w in WINDOWS_DAYS] + [
    f"terminal_risk_{w}d" for w in WINDOWS_DAYS
]
REQUEST_FEATURES = (
    ["amount", "is_weekend", "is_night"]
    + [f"amount_over_customer_mean_{w}d" for w in WINDOWS_DAYS]
    + [f"amount_zscore_{w}d" for w in STD_WINDOWS_DAYS]
    + [f"customer_max_over_mean_{w}d" for w in MAX_WINDOWS_DAYS]
)

#: The model's input columns, in order.
MODEL_FEATURES = (
    REQUEST_FEATURES
    + [f"customer_nb_tx_{w}d" for w in WINDOWS_DAYS]
    + [f"customer_mean_amount_{w}d" for w in WINDOWS_DAYS]
    + TERMINAL_FEATURES
)

#: Feast object names.
CUSTOMER_VIEW = "customer_spending"
TERMINAL_VIEW = "terminal_risk"
REQUEST_VIEW = "transaction_request"
FEATURE_SERVICE = "fraud_model_v1"
