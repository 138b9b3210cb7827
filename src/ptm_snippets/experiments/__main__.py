"""``python -m ptm_snippets.experiments``: see :func:`ptm_snippets.experiments.main`."""

from ptm_snippets.experiments import main

raise SystemExit(main())
