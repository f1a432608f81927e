"""``make chaos``: the flows of two bridges in one deployment under injected faults, then a count per
bridge of what was lost, done twice or crossed to the other bridge.

``python -m wmsbridge_tools.chaos [--bridges 2] [--orders 300] [--seed N] [--store sqlite|postgresql]``;
see docs/chaos.md. The driver is :mod:`wmsbridge_tools.chaos.run`, the deployment (shops, warehouse
accounts, one store, one receiver) :mod:`wmsbridge_tools.chaos.deployment`, the pipelines run in
processes forked by :mod:`wmsbridge_tools.chaos.worker` (one per run and bridge, so it can be
SIGKILLed), the receiver attacks are :mod:`wmsbridge_tools.chaos.attacks` and the end-state checks
:mod:`wmsbridge_tools.chaos.audit`.
"""
