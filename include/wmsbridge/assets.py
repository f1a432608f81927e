"""Airflow Assets the bridge DAGs publish and consume (one definition, imported by both sides)."""

from __future__ import annotations

from airflow.sdk import Asset

# Updated when SKUs reached the warehouse: orders waiting for those items can go now.
ITEMS_ASSET = Asset("wms://warehouse/items")

# Updated when the receiver stored a new deliveryorder.confirm: wms_shipments applies it at once.
SHIPMENTS_ASSET = Asset("wms://bridge/shipment-inbox")
