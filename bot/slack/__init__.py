"""The Slack door: bolt app, Block Kit rendering, HTTP events endpoint and Socket Mode runner."""
