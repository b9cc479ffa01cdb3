"""The kernel features assemble around: the shared parts (``kernel``), what a feature is (``feature``),
and how features become one app that starts and stops in order (``assembly``)."""
