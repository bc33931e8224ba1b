from vidsearch.cli import main

raise SystemExit(main())
