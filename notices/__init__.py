"""Enforcement notices (行政处罚信息公示): regulators publish penalty decisions for a statutory display
period; the public reads them and finds them in search; credit evaluation counts them (facts.py)."""
