"""Connection values shared by the hook tests (distinctive, so a leak into a log is easy to spot)."""

APP_KEY = "21363512"
APP_SECRET = "s3cr3t-AppSecret-7f1e9b"
CUSTOMER_ID = "82073683308314625"
OWNER_CODE = "OWNER-404781084"
WAREHOUSE_CODE = "WH-1038"
# Small enough that the whole folder runs in seconds; the logic is the same as in production.
FAST_RETRIES = {"backoff_base": 0.01, "backoff_max": 0.05}
