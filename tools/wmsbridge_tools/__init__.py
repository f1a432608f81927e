"""Tools beside the bridge, never installed into the production image: the demo (``python -m
wmsbridge_tools.demo``), fault injection (``chaos``), synthetic shops (``synthetic``, with the DDL of
the shop schemas in ``shop_schemas``) and the local Airflow (``localairflow``). The WMS simulator is
the package ``wms_simulator`` of the same distribution (tools/pyproject.toml)."""
