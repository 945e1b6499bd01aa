"""pyunit.py: runs one unittest module for CTest. Exit 0 when tests ran and passed, 1 on any
failure or error, and 77 (CTest's SKIP_RETURN_CODE) when every test was skipped, so a missing tool
shows up as a skip instead of a silent pass. Usage: pyunit.py MODULE (from the module's folder)."""
import os
import sys
import unittest


def main():
    sys.path.insert(0, os.getcwd())
    suite = unittest.defaultTestLoader.loadTestsFromName(sys.argv[1])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    if not result.wasSuccessful():
        return 1
    if result.testsRun == 0 or len(result.skipped) == result.testsRun:
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
