"""run_ner: not implemented yet (issue 6). Exits with status 2 until it lands."""

import sys

if __name__ == "__main__":
    print("run_ner.py is not implemented yet (see README: 'Status'); it lands with issue 6.",
          file=sys.stderr)
    sys.exit(2)
