"""Developer tools: `python -m helpline.devtools check-services PG_URL REDIS_URL`."""
