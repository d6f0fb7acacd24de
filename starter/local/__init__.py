"""The local stack: `earlyhelp up`, the demo caseload, the sample run, and the walks they share with the tests."""
