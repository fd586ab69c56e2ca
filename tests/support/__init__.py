"""Test support: real databases, brokers and processes, set up once and cloned per test."""
