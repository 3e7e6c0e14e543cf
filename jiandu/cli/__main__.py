import sys

from jiandu.cli.main import main

sys.exit(main())
