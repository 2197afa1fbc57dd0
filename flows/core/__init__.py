"""What knows no capability: event time, watermarks and the stateful base every
event-time step shares."""
