"""Client risk and SLA: breaches, reopenings, complaints, CSAT and health scored into churn risk."""
