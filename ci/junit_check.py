#!/usr/bin/env python3
"""Reads a junit.xml with the PyPI `junitparser` package, as CI test views
do, and prints what it understood as JSON: totals and every test case with
its failure (type, message) or null.

    python3 ci/junit_check.py RUN_DIR/junit.xml
"""
import json
import sys

from junitparser import Failure, JUnitXml


def main():
    xml = JUnitXml.fromfile(sys.argv[1])
    cases = []
    for suite in xml:
        for case in suite:
            failures = [r for r in case.result if isinstance(r, Failure)]
            f = failures[0] if failures else None
            cases.append({
                "suite": suite.name,
                "classname": case.classname,
                "name": case.name,
                "failure": [f.type, f.message] if f else None,
            })
    print(json.dumps({"tests": xml.tests, "failures": xml.failures, "cases": cases}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
