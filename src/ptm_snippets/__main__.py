"""``python -m ptm_snippets install|status|path``: the offline model mirror's command line."""

from ptm_snippets.hub import main

raise SystemExit(main())
