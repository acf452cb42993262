"""Data generated in code for tasks that run on pretrained models (no organism to plant it in)."""
