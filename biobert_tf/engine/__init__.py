"""What every job shares: settings declared once, the Task interface, the driver, the
self-describing run directory, the one training loop and its batching, optimizer, strategies,
progress reporting, streaming file prediction, SavedModel export and one-line errors."""
