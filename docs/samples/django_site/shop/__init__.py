"""The shop app: its views enqueue, its jobs module holds the queue."""
