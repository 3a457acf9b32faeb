"""`python3 native-host/standin [flags]` runs the stand-in server."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from standin.server import main  # noqa: E402

main()
