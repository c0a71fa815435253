"""Names and parameters of every feature: the one place they are defined.

Windows are anchored at the moment a transaction (or request) at time t is scored:

* customer window w: the customer's transactions in (t - w, t), plus the one being scored;
* terminal window w: the terminal's transactions in (t - delay - w, t - delay], with their labels
  (labels arrive ``LABEL_DELAY_DAYS`` late, so nothing younger is ever read).

Times are handled in whole microseconds since the epoch (the resolution of Feast's stores).
"""

from __future__ import annotations

import hashlib

#: Fraud labels reach the system this many days after the transaction (handbook assumption).
LABEL_DELAY_DAYS = 7
#: Look-back windows, in days, of the customer aggregates (the handbook's) and of the terminal's
#: known labels (the handbook's plus 3 and 14 days, chosen on the validation split).
WINDOWS_DAYS = (1, 7, 30)
TERMINAL_WINDOWS_DAYS = (1, 3, 7, 14, 30)
#: Windows of the customer's amount spread (standard deviation) and of its largest amount.
STD_WINDOWS_DAYS = (7, 30)
MAX_WINDOWS_DAYS = (1, 7)
#: Longest history each entity's windows read, in days before the request.
CUSTOMER_HISTORY_DAYS = max(WINDOWS_DAYS)
TERMINAL_HISTORY_DAYS = max(TERMINAL_WINDOWS_DAYS) + LABEL_DELAY_DAYS
#: How far back a feature job must read raw transactions to fill every window of a row.
LOOKBACK_DAYS = TERMINAL_HISTORY_DAYS
#: "Days since the customer's previous transaction" saturates here (no transaction in the longest window).
DAYS_SINCE_LAST_TX_CAP = float(max(WINDOWS_DAYS))
#: Offline window states are re-stamped every midnight while they are not empty, so a state
#: row is never older than a day; the views' TTL of one day therefore never drops a state that
#: still counts a transaction (an expired lookup means: nothing in any window).
WINDOW_STATE_TTL_DAYS = 1
#: Online event lists keep at most this many events per entity (far above the data's busiest
#: entity); a longer history is cut and reported by the job that writes it.
MAX_ONLINE_EVENTS = 4096

US_PER_SECOND = 10**6
US_PER_DAY = 86_400 * US_PER_SECOND

CUSTOMER_KEY = "CUSTOMER_ID"
TERMINAL_KEY = "TERMINAL_ID"
EVENT_TIMESTAMP = "event_timestamp"

# --- Window state: what the offline store keeps, per entity, at every instant it changes. ---
#: Customer: count, sum, sum of squares and maximum of the amounts in (t - w, t), and the time of
#: the last transaction before t (microseconds since the epoch, 0 when none in the longest window).
CUSTOMER_LAST_TX = "customer_last_tx_us"
CUSTOMER_STATE = (
    [f"customer_tx_count_{w}d" for w in WINDOWS_DAYS]
    + [f"customer_amount_sum_{w}d" for w in WINDOWS_DAYS]
    + [f"customer_amount_sumsq_{w}d" for w in STD_WINDOWS_DAYS]
    + [f"customer_amount_max_{w}d" for w in MAX_WINDOWS_DAYS]
    + [CUSTOMER_LAST_TX]
)
#: Terminal: transactions and frauds in (t - delay - w, t - delay]; the time of the first fraud in
#: the longest of these windows (0 when it holds none) and the transactions from it on.
TERMINAL_FIRST_FRAUD = "terminal_first_fraud_us"
TERMINAL_TX_SINCE_FIRST_FRAUD = "terminal_tx_count_since_first_fraud"
TERMINAL_STATE = (
    [f"terminal_tx_count_{w}d" for w in TERMINAL_WINDOWS_DAYS]
    + [f"terminal_fraud_count_{w}d" for w in TERMINAL_WINDOWS_DAYS]
    + [TERMINAL_FIRST_FRAUD, TERMINAL_TX_SINCE_FIRST_FRAUD]
)

# --- Event lists: what the online store keeps, per entity, to compute the state at request time. ---
CUSTOMER_EVENT_TIMES = "customer_event_times_us"
CUSTOMER_EVENT_AMOUNTS = "customer_event_amounts"
TERMINAL_EVENT_TIMES = "terminal_event_times_us"
TERMINAL_EVENT_FRAUDS = "terminal_event_frauds"
CUSTOMER_EVENTS = [CUSTOMER_EVENT_TIMES, CUSTOMER_EVENT_AMOUNTS]
TERMINAL_EVENTS = [TERMINAL_EVENT_TIMES, TERMINAL_EVENT_FRAUDS]

# --- Model inputs, computed at request time from the state and the transaction. ---
CUSTOMER_FEATURES = (
    [f"customer_nb_tx_{w}d" for w in WINDOWS_DAYS]
    + [f"customer_mean_amount_{w}d" for w in WINDOWS_DAYS]
    + [f"amount_over_customer_mean_{w}d" for w in WINDOWS_DAYS]
    + [f"amount_zscore_{w}d" for w in STD_WINDOWS_DAYS]
    + [f"customer_max_over_mean_{w}d" for w in MAX_WINDOWS_DAYS]
    + ["customer_days_since_last_tx"]
)
TERMINAL_FEATURES = (
    [f"terminal_nb_tx_{w}d" for w in TERMINAL_WINDOWS_DAYS]
    + [f"terminal_risk_{w}d" for w in TERMINAL_WINDOWS_DAYS]
    + [
        "terminal_days_since_first_known_fraud",
        "terminal_nb_tx_since_first_known_fraud",
        "terminal_risk_since_first_known_fraud",
    ]
)
TRANSACTION_FEATURES = ["amount", "is_weekend", "is_night"]

#: The model's input columns, in order.
MODEL_FEATURES = TRANSACTION_FEATURES + CUSTOMER_FEATURES + TERMINAL_FEATURES
#: Bump when what a feature means changes (not only its name): models of different feature sets
#: are never compared by the promotion gate. v1: states after the entity's previous event;
#: v2: windows anchored at the moment of scoring.
FEATURE_DEFINITIONS_VERSION = 2
FEATURE_SET = (
    f"v{FEATURE_DEFINITIONS_VERSION}-" + hashlib.sha256(",".join(MODEL_FEATURES).encode()).hexdigest()[:12]
)

#: Feast object names.
CUSTOMER_WINDOWS_VIEW = "customer_windows"
TERMINAL_WINDOWS_VIEW = "terminal_windows"
CUSTOMER_EVENTS_VIEW = "customer_recent_events"
TERMINAL_EVENTS_VIEW = "terminal_labelled_events"
TRAINING_SERVICE = "fraud_windows_offline"
ONLINE_SERVICE = "fraud_events_online"
