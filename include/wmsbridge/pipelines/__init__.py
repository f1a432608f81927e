"""The pipelines: extract from the shop, transform, push to the warehouse, record every step.

Plain functions over a :class:`~wmsbridge.pipelines.runtime.Bridge`, so DAG tasks stay thin and the
same code runs from `dag.test()`, the scheduler and the demo.
"""
