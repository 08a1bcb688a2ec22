"""Device simulators: patient physiology, clinical scenarios, store-and-forward, load mode."""
