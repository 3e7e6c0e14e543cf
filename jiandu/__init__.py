"""Jiandu Hub (监督数据共享中心): the shared core of the pipeline.

Everything here is used by more than one stage (adapters, producers, streams,
consumers) and depends on none of them.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
