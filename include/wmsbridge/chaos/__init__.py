"""``make chaos``: the five flows under injected faults, then a count of what was lost or done twice.

``python -m wmsbridge.chaos [--orders 300] [--seed N] [--store sqlite|postgresql]``; see docs/chaos.md.
The driver is :mod:`wmsbridge.chaos.run`, the pipelines run in :mod:`wmsbridge.chaos.worker`
subprocesses (so they can be SIGKILLed), the receiver attacks are :mod:`wmsbridge.chaos.attacks`
and the end-state checks :mod:`wmsbridge.chaos.audit`.
"""
