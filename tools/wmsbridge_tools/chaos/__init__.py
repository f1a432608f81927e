"""``make chaos``: the five flows under injected faults, then a count of what was lost or done twice.

``python -m wmsbridge_tools.chaos [--orders 300] [--seed N] [--store sqlite|postgresql]``; see docs/chaos.md.
The driver is :mod:`wmsbridge_tools.chaos.run`, the pipelines run in :mod:`wmsbridge_tools.chaos.worker`
subprocesses (so they can be SIGKILLed), the receiver attacks are :mod:`wmsbridge_tools.chaos.attacks`
and the end-state checks :mod:`wmsbridge_tools.chaos.audit`.
"""
