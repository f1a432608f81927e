"""The warehouse calls us: ``deliveryorder.confirm`` at ``POST /wms/qimen/callback``.

``app.create_app`` is the one FastAPI app; ``plugin`` serves it inside Airflow's api-server,
``python -m wmsbridge.receiver`` on its own. docs/receiver.md is the operator's page.
"""
