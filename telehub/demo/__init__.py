"""The demo: embedded services, the seeded caseload and the runner that starts everything."""
