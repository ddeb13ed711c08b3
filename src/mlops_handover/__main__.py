import sys

from mlops_handover.cli import main

sys.exit(main())
