"""run_pretraining: not implemented yet (issue 5). Exits with status 2 until it lands."""

import sys

if __name__ == "__main__":
    print("run_pretraining.py is not implemented yet (see README: 'Status'); it lands with issue 5.",
          file=sys.stderr)
    sys.exit(2)
