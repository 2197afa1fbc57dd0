"""Agent performance: per-agent facts from ticket events, windowed metrics, coaching alerts."""
