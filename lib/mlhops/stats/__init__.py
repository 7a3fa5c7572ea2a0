"""Windowed feature statistics: mergeable day states (``states``), the windows built from them
(``windows``), the incremental run (``runner``, ``increment``) and the full recompute (``full``)."""
