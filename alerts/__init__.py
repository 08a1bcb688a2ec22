"""Clinical rules, alert lifecycle, outbox notifier and scheduler."""
