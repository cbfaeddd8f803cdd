from studio.launcher import main

raise SystemExit(main())
