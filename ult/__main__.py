import sys

from ult.cli import main

sys.exit(main())
