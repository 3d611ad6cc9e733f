"""chaosbench package."""
