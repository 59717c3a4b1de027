from tests.browser.fixtures import live_server  # noqa: F401  (a real server for the fuzzer)
