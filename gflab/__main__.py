from gflab.cli import main

raise SystemExit(main())
