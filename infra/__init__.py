"""How cxpulse runs: settings, CLI, migrations, local Kafka, simulator."""
