"""Data files for the analyzers package (a package so setuptools ships its *.txt / *.json)."""
