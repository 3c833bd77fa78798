"""Batch jobs: many prompts under limits, a budget, deadlines, resume and workers.

The pure pieces (token buckets, rate-limit headers, the budget, the job files,
sharding) import neither trio nor httpx2; the runner, the worker pool and the
providers' batch engines are built on them.
"""
