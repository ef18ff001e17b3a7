import sys

from aims.cli import main

sys.exit(main())
