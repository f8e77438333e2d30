import sys

from autodp.cli import main

sys.exit(main())
